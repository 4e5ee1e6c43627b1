"""A SOCKS5 session on a listener: negotiate (and check credentials) with `Socks5Server`,
dial the target, answer with the outcome and relay.

May import `proxyfleet.wire` and the standard library.
"""

from __future__ import annotations

from proxyfleet.gateway.counters import WayIn
from proxyfleet.gateway.dialer import DialError, DialFailure
from proxyfleet.gateway.engine import Engine
from proxyfleet.gateway.leg import Leg, relay
from proxyfleet.gateway.route import Route
from proxyfleet.wire.errors import WireError
from proxyfleet.wire.handshake import NEED_DATA
from proxyfleet.wire.socks5 import NO_BOUND, Socks5Reply
from proxyfleet.wire.socks5_server import Socks5AuthRequest, Socks5Server
from proxyfleet.wire.target import Target

REPLY_FOR = {
    DialFailure.UNRESOLVED: Socks5Reply.HOST_UNREACHABLE,
    DialFailure.NO_IPV6: Socks5Reply.HOST_UNREACHABLE,
    DialFailure.REFUSED: Socks5Reply.CONNECTION_REFUSED,
    DialFailure.NETWORK_UNREACHABLE: Socks5Reply.NETWORK_UNREACHABLE,
    DialFailure.HOST_UNREACHABLE: Socks5Reply.HOST_UNREACHABLE,
    DialFailure.TIMED_OUT: Socks5Reply.TTL_EXPIRED,
    DialFailure.FAILED: Socks5Reply.GENERAL_FAILURE,
    DialFailure.NOT_ALLOWED: Socks5Reply.NOT_ALLOWED,
}


async def serve_socks5(client: Leg, engine: Engine, deadline: float) -> None:
    """Negotiate by `deadline` (loop time), then dial and relay."""
    entry = _Entry()
    try:
        await _serve(client, engine, deadline, entry)
    finally:
        if entry.route is not None:
            entry.route.close()


class _Entry:
    """The route the client's login opened, once it has one."""

    route: Route | None = None


async def _serve(client: Leg, engine: Engine, deadline: float, entry: _Entry) -> None:
    machine = Socks5Server(auth_required=engine.requires_login)
    try:
        target = await _negotiate(client, machine, engine, deadline, entry)
    except WireError as exc:
        engine.counters.handshake_failures += 1
        client.write(machine.data_to_send() + exc.answer)
        return
    if target is None:
        return
    if entry.route is None:  # no login was asked for
        entry.route = await engine.enter(None, client, WayIn.SOCKS5)
    if entry.route is None:
        machine.send_reply(Socks5Reply.NOT_ALLOWED)
        client.write(machine.data_to_send())
        return
    try:
        upstream = await engine.dial(target, entry.route, way=WayIn.SOCKS5)
    except DialError as exc:
        machine.send_reply(REPLY_FOR[exc.failure])
        client.write(machine.data_to_send())
        return
    machine.send_reply(Socks5Reply.SUCCEEDED, upstream.local_target or NO_BOUND)
    client.write(machine.data_to_send())
    client.unread(machine.take_rest())
    await relay(client, upstream, engine.config.idle_timeout)


async def _negotiate(client: Leg, machine: Socks5Server, engine: Engine, deadline: float,
                     entry: _Entry) -> Target | None:
    """The target the client asks for, None if it leaves first; `TimeoutError` once the
    handshake deadline passes (a credentials check is bounded on its own)."""
    while True:
        event = machine.next_event()
        if event is NEED_DATA:
            client.write(machine.data_to_send())
            data = await client.read(deadline)
            if not data:
                return None
            machine.receive_data(data)
        elif isinstance(event, Socks5AuthRequest):
            entry.route = await engine.enter(event.credentials, client, WayIn.SOCKS5)
            machine.accept_credentials(entry.route is not None)
        else:
            return event.target
