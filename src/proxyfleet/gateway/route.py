"""Per-client routing: what a listener with a `Router` (the rotating gateway) decides for each
client it lets in. A `Route` dials on that client's behalf (through whichever exit it picks)
and says whether plain HTTP requests may share an upstream connection; a plain listener's
route is `DirectRoute`, its dialer as it is.

May import `proxyfleet.wire`, the gateway's dialer and leg, and the standard library.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

from proxyfleet.gateway.dialer import Dialer
from proxyfleet.gateway.leg import Leg
from proxyfleet.wire.credentials import Credentials
from proxyfleet.wire.target import Target


class Route(Protocol):
    @property
    def rotates(self) -> bool:
        """True: every plain HTTP request is dialed anew (a fresh exit each), never served
        over the upstream connection of the one before."""
        ...

    async def dial(self, target: Target, make_leg: Callable[[], Leg]) -> Leg:
        """An upstream leg to `target`, or a `DialError` (its `answer`, when set, is what an
        HTTP client gets)."""
        ...

    def close(self) -> None:
        """The client's connection is done (or it logged in anew): release what it held."""
        ...


class Router(Protocol):
    @property
    def requires_login(self) -> bool: ...

    async def enter(self, credentials: Credentials | None, client: Leg) -> Route | None:
        """The route for a client presenting `credentials`, or None to turn it away."""
        ...


@dataclass(frozen=True, slots=True)
class DirectRoute:
    dialer: Dialer
    rotates: ClassVar[bool] = False

    async def dial(self, target: Target, make_leg: Callable[[], Leg]) -> Leg:
        return await self.dialer.dial(target, make_leg)

    def close(self) -> None:
        """Nothing is held."""
