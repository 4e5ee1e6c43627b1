"""What every session on a listener shares: `ListenerConfig` (address, protocols, timeouts,
limits), the `Authenticate` callable, and `Engine`, which checks credentials and dials with
the listener's timeouts and counters.

May import `proxyfleet.wire` and the standard library.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from proxyfleet.gateway.counters import RequestOutcome, TrafficCounters, WayIn
from proxyfleet.gateway.dialer import Dialer, DialError, DialFailure, classify
from proxyfleet.gateway.leg import Leg
from proxyfleet.gateway.route import DirectRoute, Route, Router
from proxyfleet.wire.credentials import Credentials
from proxyfleet.wire.target import Target

log = logging.getLogger(__name__)

Authenticate = Callable[[str, str], bool | Awaitable[bool]]
"""`authenticate(username, password)`: plain or async; True lets the client in."""


class ListenerProtocol(enum.Enum):
    HTTP = "http"
    SOCKS5 = "socks5"
    SOCKS4 = "socks4"


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    host: str = "127.0.0.1"
    port: int = 0
    """0 picks a free port; `ProxyServer.address` tells which."""
    protocols: frozenset[ListenerProtocol] = field(
        default_factory=lambda: frozenset({ListenerProtocol.HTTP, ListenerProtocol.SOCKS5}))
    handshake_timeout: float = 10.0
    """From accept to a complete handshake, and for each credentials check."""
    connect_timeout: float = 10.0
    idle_timeout: float = 300.0
    """A tunnel or a kept-alive connection that moves nothing this long is closed."""
    max_connections: int = 1024
    """Client connections served at once; more are closed as they arrive."""
    realm: str = "proxyfleet"
    reuse_port: bool = False
    """Several processes may listen on the one port (the kernel spreads the connections)."""


@dataclass(frozen=True, slots=True)
class Engine:
    config: ListenerConfig
    dialer: Dialer
    counters: TrafficCounters
    authenticate: Authenticate | None = None
    router: Router | None = None
    """Decides each client's route (the rotating gateway); None: every client dials direct."""

    @property
    def requires_login(self) -> bool:
        return self.authenticate is not None or (self.router is not None
                                                 and self.router.requires_login)

    async def enter(self, credentials: Credentials | None, client: Leg, way: WayIn,
                    ) -> Route | None:
        """The route a client with these credentials takes, or None to refuse it."""
        route = await self._route_for(credentials, client)
        if route is None:
            self.counters.count_request(way, RequestOutcome.REFUSED_AUTH)
        return route

    async def _route_for(self, credentials: Credentials | None, client: Leg) -> Route | None:
        if self.router is None:
            return DirectRoute(self.dialer) if await self.check(credentials) else None
        try:
            async with asyncio.timeout(self.config.handshake_timeout):
                return await self.router.enter(credentials, client)
        except Exception:
            log.exception("routing a client failed")
            return None

    async def check(self, credentials: Credentials | None) -> bool:
        """Whether these credentials open the listener; a failing check says no."""
        if self.authenticate is None:
            return True
        if credentials is None:
            return False
        try:
            async with asyncio.timeout(self.config.handshake_timeout):
                verdict = self.authenticate(credentials.username, credentials.password)
                if inspect.isawaitable(verdict):
                    verdict = await verdict
        except Exception:
            log.exception("authenticate(%r, …) failed", credentials.username)
            return False
        return verdict is True

    async def dial(self, target: Target, route: Route | None = None, *, way: WayIn) -> Leg:
        """A connected upstream leg (by `route`, else direct), or `DialError` saying why not;
        the request is counted with its outcome."""
        dial = self.dialer.dial if route is None else route.dial
        try:
            async with asyncio.timeout(self.config.connect_timeout):
                upstream = await dial(target, self.upstream_leg)
        except DialError as exc:
            self.counters.count_request(way, RequestOutcome.RATE_LIMITED
                                        if exc.failure is DialFailure.NOT_ALLOWED
                                        else RequestOutcome.FAILED)
            raise
        except OSError as exc:  # TimeoutError and socket.gaierror are OSErrors too
            self.counters.count_request(way, RequestOutcome.FAILED)
            raise DialError(classify(exc), target) from exc
        self.counters.count_request(way, RequestOutcome.OK)
        return upstream

    def upstream_leg(self) -> Leg:
        return Leg(self.counters.count_sent)
