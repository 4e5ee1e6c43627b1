"""A SOCKS4/4a session on a listener: read the request with `Socks4Server`, let the client in
on the login its user id carries (`username:password`: SOCKS4 has no password field), dial,
answer and relay. A listener that requires a login rejects a request without one, or with a
wrong one, before anything is dialed.

May import `proxyfleet.wire` and the standard library.
"""

from __future__ import annotations

from proxyfleet.gateway.counters import WayIn
from proxyfleet.gateway.dialer import DialError
from proxyfleet.gateway.engine import Engine
from proxyfleet.gateway.leg import Leg, relay
from proxyfleet.wire.errors import WireError
from proxyfleet.wire.handshake import NEED_DATA
from proxyfleet.wire.socks4 import Socks4ConnectRequest, Socks4Reply, Socks4Server


async def serve_socks4(client: Leg, engine: Engine, deadline: float) -> None:
    """Read the request by `deadline` (loop time), then dial and relay."""
    machine = Socks4Server()
    try:
        request = await _read_request(client, machine, deadline)
    except WireError as exc:
        engine.counters.handshake_failures += 1
        client.write(exc.answer)
        return
    if request is None:
        return
    route = await engine.enter(request.credentials, client, WayIn.SOCKS4)
    if route is None:
        engine.counters.handshake_failures += 1
        machine.send_reply(Socks4Reply.REJECTED)
        client.write(machine.data_to_send())
        return
    try:
        upstream = await engine.dial(request.target, route, way=WayIn.SOCKS4)
    except DialError:
        route.close()
        machine.send_reply(Socks4Reply.REJECTED)
        client.write(machine.data_to_send())
        return
    machine.send_reply(Socks4Reply.GRANTED, upstream.local_target)
    client.write(machine.data_to_send())
    client.unread(machine.take_rest())
    try:
        await relay(client, upstream, engine.config.idle_timeout)
    finally:
        route.close()


async def _read_request(client: Leg, machine: Socks4Server, deadline: float,
                        ) -> Socks4ConnectRequest | None:
    while (event := machine.next_event()) is NEED_DATA:
        data = await client.read(deadline)
        if not data:
            return None
        machine.receive_data(data)
    return event
