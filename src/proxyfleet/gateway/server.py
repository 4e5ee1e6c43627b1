"""`ProxyServer`: one listening socket that speaks HTTP, SOCKS5 and SOCKS4 as configured,
telling them apart by the first byte a client sends (0x05 SOCKS5, 0x04 SOCKS4, else HTTP).
It bounds concurrent connections, counts traffic and survives whatever a client sends.

May import `proxyfleet.wire` and the standard library.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType

from proxyfleet.gateway.counters import TrafficCounters
from proxyfleet.gateway.dialer import Dialer, TcpDialer
from proxyfleet.gateway.engine import Authenticate, Engine, ListenerConfig, ListenerProtocol
from proxyfleet.gateway.http_session import serve_http
from proxyfleet.gateway.leg import Leg
from proxyfleet.gateway.route import Router
from proxyfleet.gateway.socks4_session import serve_socks4
from proxyfleet.gateway.socks5_session import serve_socks5
from proxyfleet.gateway.tasks import TaskKeeper

log = logging.getLogger(__name__)

# A session is given the client and the engine, and the deadline (on the loop's clock) by
# which its handshake must be done: one deadline from admission, however the handshake's
# bytes are split between dispatch and session.
Session = Callable[[Leg, Engine, float], Awaitable[None]]

SESSIONS: dict[ListenerProtocol, Session] = {
    ListenerProtocol.HTTP: serve_http,
    ListenerProtocol.SOCKS5: serve_socks5,
    ListenerProtocol.SOCKS4: serve_socks4,
}
_FIRST_BYTE = {0x05: ListenerProtocol.SOCKS5, 0x04: ListenerProtocol.SOCKS4}
_CLOSE_TIMEOUT = 5.0


def detect(first_byte: int, enabled: frozenset[ListenerProtocol]) -> ListenerProtocol | None:
    """The protocol a client speaks, judged by its first byte; a listener with one protocol
    hands it everything, so even a stranger gets that protocol's own error."""
    if len(enabled) == 1:
        return next(iter(enabled))
    protocol = _FIRST_BYTE.get(first_byte, ListenerProtocol.HTTP)
    return protocol if protocol in enabled else None


class _ClientLeg(Leg):
    def __init__(self, server: ProxyServer) -> None:
        super().__init__(server.counters.count_received)
        self._server = server

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._server.admit(self)


class ProxyServer:
    """A proxy listener. `async with ProxyServer(...) as server:` listens until the block
    ends; `server.address` is where."""

    def __init__(self, config: ListenerConfig | None = None, *,
                 authenticate: Authenticate | None = None, dialer: Dialer | None = None,
                 router: Router | None = None) -> None:
        self.config = config or ListenerConfig()
        self.counters = TrafficCounters()
        self._engine = Engine(self.config, dialer or TcpDialer(), self.counters, authenticate,
                              router)
        self._keeper = TaskKeeper()
        self._clients: set[Leg] = set()
        self._server: asyncio.Server | None = None
        self._address: tuple[str, int] | None = None

    async def __aenter__(self) -> ProxyServer:
        await self.start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self.close()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _ClientLeg(self), self.config.host,
                                                self.config.port, backlog=1024,
                                                reuse_port=self.config.reuse_port or None)
        host, port = self._server.sockets[0].getsockname()[:2]
        self._address = (str(host), int(port))

    @property
    def address(self) -> tuple[str, int]:
        """Where the listener listens (or listened, once closed)."""
        if self._address is None:
            raise RuntimeError("the listener has not started")
        return self._address

    async def close(self) -> None:
        """Stop listening and end every connection."""
        if self._server is not None:
            self._server.close()
        for client in list(self._clients):
            client.abort()
        await self._keeper.close()
        if self._server is not None:
            async with asyncio.timeout(_CLOSE_TIMEOUT):
                await self._server.wait_closed()

    def admit(self, client: Leg) -> None:
        """Serve a new client, or turn it away at the connection limit."""
        counters = self.counters
        if counters.connections_active >= self.config.max_connections:
            counters.connections_rejected += 1
            client.close()
            return
        counters.connections_total += 1
        counters.connections_active += 1
        self._clients.add(client)
        # The peer goes into log lines when there is something to say, not into every name.
        self._keeper.spawn(self._serve(client), name="proxy client")

    async def _serve(self, client: Leg) -> None:
        try:
            await self._dispatch(client)
        except (OSError, asyncio.IncompleteReadError) as exc:  # TimeoutError included
            log.debug("client %s: %r", self._peer(client), exc)
        except Exception:
            # One client's surprise must never take the listener down.
            log.exception("client %s: unexpected failure", self._peer(client))
        finally:
            client.close()
            self._clients.discard(client)
            self.counters.connections_active -= 1

    async def _dispatch(self, client: Leg) -> None:
        deadline = asyncio.get_running_loop().time() + self.config.handshake_timeout
        first = await client.read(deadline)
        if not first:
            return
        client.unread(first)
        protocol = detect(first[0], self.config.protocols)
        if protocol is None:
            self.counters.handshake_failures += 1
            return
        await SESSIONS[protocol](client, self._engine, deadline)

    @staticmethod
    def _peer(client: Leg) -> str:
        peer = client.transport.get_extra_info("peername") if client.transport else None
        return str(peer)
