"""Bounds on `POST /proxies/test`, which makes pool proxies fetch a URL of the caller's
choosing: per user, a rate of proxy fetches (a token bucket: `fetches_per_minute`, refilled
evenly) and a number of tests at once; and the rule that non-admins may not aim the pool at
loopback, private, link-local or otherwise non-public addresses. Pure: imports `core` and the
standard library; the clock is given.

The bounds are kept in the process: with several API processes a user gets each process's
allowance."""

from __future__ import annotations

import ipaddress
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from proxyfleet.core.errors import Forbidden, RateLimited

# Users whose bucket is full and who run nothing are forgotten once there are this many.
_FORGET_ABOVE = 10_000


class TargetNotAllowed(Forbidden):
    code = "TARGET_NOT_ALLOWED"


def is_public(address: str) -> bool:
    """Whether an IP address is one the public internet routes (not loopback, private,
    link-local, multicast, reserved or unspecified; IPv4-mapped IPv6 judged as IPv4)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def refuse_unless_public(host: str, addresses: list[str]) -> None:
    """Raise TargetNotAllowed when the host, or any address it resolves to, is not public."""
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
        literal = [host.strip("[]")]
    except ValueError:
        literal = []
    if host.lower().rstrip(".").endswith("localhost") or any(
            not is_public(address) for address in literal + addresses):
        raise TargetNotAllowed("The target must be a public address.", {"host": host})


@dataclass
class ReachBounds:
    fetches_per_minute: int
    concurrent: int
    clock: Callable[[], float] = time.monotonic
    # user -> (tokens, when counted); user -> tests running
    _buckets: dict[uuid.UUID, tuple[float, float]] = field(default_factory=dict)
    _running: dict[uuid.UUID, int] = field(default_factory=dict)

    @contextmanager
    def held(self, user_id: uuid.UUID, fetches: int) -> Iterator[None]:
        """Admit a test of `fetches` proxy fetches for the block, or raise RateLimited."""
        if self._running.get(user_id, 0) >= self.concurrent:
            raise RateLimited(f"At most {self.concurrent} tests at once.",
                              {"concurrent": self.concurrent, "retry_after_seconds": 1})
        self._take(user_id, fetches)
        self._running[user_id] = self._running.get(user_id, 0) + 1
        try:
            yield
        finally:
            left = self._running.pop(user_id) - 1
            if left:
                self._running[user_id] = left

    def _take(self, user_id: uuid.UUID, fetches: int) -> None:
        now = self.clock()
        capacity = float(self.fetches_per_minute)
        per_second = capacity / 60.0
        tokens, then = self._buckets.get(user_id, (capacity, now))
        tokens = min(capacity, tokens + (now - then) * per_second)
        if fetches > tokens:
            wait = (min(fetches, capacity) - tokens) / per_second
            raise RateLimited(
                f"At most {self.fetches_per_minute} proxy fetches a minute; "
                f"this test needs {fetches}.",
                {"fetches_per_minute": self.fetches_per_minute,
                 "retry_after_seconds": round(wait, 3)})
        self._buckets[user_id] = (tokens - fetches, now)
        if len(self._buckets) > _FORGET_ABOVE:
            self._forget_full(now, capacity, per_second)

    def _forget_full(self, now: float, capacity: float, per_second: float) -> None:
        for user_id, (tokens, then) in list(self._buckets.items()):
            if tokens + (now - then) * per_second >= capacity and user_id not in self._running:
                del self._buckets[user_id]
