"""Bounds on `POST /proxies/test`, which makes pool proxies fetch a URL of the caller's
choosing: per user, a rate of proxy fetches (`fetches_per_minute`, refilled evenly) and a
number of tests at once, kept by a `core.limits.Limiter` (shared through Redis when it is
configured); and the rule that non-admins may not aim the pool at loopback, private,
link-local or otherwise non-public addresses. Imports `core` and the standard library.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from proxyfleet.core.errors import Forbidden, RateLimited
from proxyfleet.core.limits import Limiter, Refusal


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
    limiter: Limiter
    """`at_once`: tests one user may run at once; `per_minute`: proxy fetches a minute."""

    @asynccontextmanager
    async def held(self, user_id: uuid.UUID, fetches: int) -> AsyncIterator[None]:
        """Admit a test of `fetches` proxy fetches for the block, or raise RateLimited."""
        admission = await self.limiter.admit(user_id, fetches)
        caps = self.limiter.caps
        if admission.refused is Refusal.AT_ONCE:
            raise RateLimited(f"At most {caps.at_once} tests at once.",
                              {"concurrent": caps.at_once, "retry_after_seconds": 1})
        if admission.refused is Refusal.RATE:
            raise RateLimited(
                f"At most {caps.per_minute} proxy fetches a minute; this test needs {fetches}.",
                {"fetches_per_minute": caps.per_minute,
                 "retry_after_seconds": round(admission.retry_after, 3)})
        try:
            yield
        finally:
            self.limiter.release(admission)
