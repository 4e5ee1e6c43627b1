"""How the engine reaches a target: the `Dialer` protocol, the default `TcpDialer` (with an
optional source address to bind, for egress), and `DialFailure`, what a failed dial means in
terms both HTTP and SOCKS can answer.

May import `proxyfleet.wire` and the standard library.
"""

from __future__ import annotations

import asyncio
import enum
import errno
import ipaddress
import socket
from collections.abc import Callable
from typing import Protocol

from proxyfleet.gateway.leg import Leg
from proxyfleet.wire.target import Target


class DialFailure(enum.Enum):
    UNRESOLVED = "name does not resolve"
    NO_IPV6 = "no IPv6 address (this egress is IPv6-only)"
    REFUSED = "connection refused"
    NETWORK_UNREACHABLE = "network unreachable"
    HOST_UNREACHABLE = "host unreachable"
    TIMED_OUT = "timed out"
    FAILED = "failed"
    NOT_ALLOWED = "not allowed"
    """A policy said no (a limit reached): nothing was dialed."""


class DialError(OSError):
    """A dial that failed, with what the failure means for the protocols answering it."""

    def __init__(self, failure: DialFailure, target: Target, *,
                 answer: bytes | None = None) -> None:
        super().__init__(f"{target.authority}: {failure.value}")
        self.failure = failure
        self.target = target
        self.answer = answer
        """The whole HTTP answer to give, when the dialer knows better than the failure."""


_ERRNO_FAILURES = {
    errno.ECONNREFUSED: DialFailure.REFUSED,
    errno.ENETUNREACH: DialFailure.NETWORK_UNREACHABLE,
    errno.EHOSTUNREACH: DialFailure.HOST_UNREACHABLE,
    errno.EADDRNOTAVAIL: DialFailure.NETWORK_UNREACHABLE,
    errno.ETIMEDOUT: DialFailure.TIMED_OUT,
}


def classify(exc: BaseException) -> DialFailure:
    """Translate what a dial raised into the engine's own terms."""
    if isinstance(exc, DialError):
        return exc.failure
    if isinstance(exc, socket.gaierror):
        return DialFailure.UNRESOLVED
    if isinstance(exc, TimeoutError):
        return DialFailure.TIMED_OUT
    if isinstance(exc, OSError) and exc.errno is not None:
        return _ERRNO_FAILURES.get(exc.errno, DialFailure.FAILED)
    return DialFailure.FAILED


class Dialer(Protocol):
    """Opens a connection to `target` whose protocol is the leg `make_leg` builds."""

    async def dial(self, target: Target, make_leg: Callable[[], Leg]) -> Leg: ...


class TcpDialer:
    """Direct TCP. With `local_address` set, every connection leaves from that address and
    only targets of its family are reached (an IPv6 egress never falls back to IPv4)."""

    def __init__(self, local_address: str | None = None) -> None:
        self._local = None if local_address is None else (local_address, 0)
        self._family = socket.AF_UNSPEC
        if local_address is not None:
            version = ipaddress.ip_address(local_address).version
            self._family = socket.AF_INET6 if version == 6 else socket.AF_INET

    async def dial(self, target: Target, make_leg: Callable[[], Leg]) -> Leg:
        loop = asyncio.get_running_loop()
        _, leg = await loop.create_connection(make_leg, target.host, target.port,
                                              family=self._family, local_addr=self._local)
        return leg
