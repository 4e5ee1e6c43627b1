"""Lease use cases: acquire the best free proxy for a credit, release early, list, expire.

The lease and its ledger entry are written in one transaction: a failed debit leaves no
lease, a lost race leaves no debit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from proxyfleet.core.accounts import Currency, TxType
from proxyfleet.core.clock import utcnow
from proxyfleet.core.errors import Conflict, InsufficientFunds, InvalidInput, NotFound
from proxyfleet.core.leases import Lease, LeaseGrant
from proxyfleet.core.proxies import ProxyFilter
from proxyfleet.storage.leases import LeaseTaken, ReleaseOutcome
from proxyfleet.storage.uow import Database, UnitOfWork

LEASE_PRICE_CREDITS = 1
MIN_LEASE_SECONDS = 1
MAX_LEASE_SECONDS = 3600
# Retries after losing a proxy to a concurrent acquire (PostgreSQL only; SQLite serialises).
ACQUIRE_ATTEMPTS = 8


class NoProxyMatches(NotFound):
    code = "NO_PROXY_AVAILABLE"


class AllProxiesLeased(Conflict):
    code = "ALL_PROXIES_LEASED"


class LeaseNotFound(NotFound):
    code = "LEASE_NOT_FOUND"


class LeaseNotActive(Conflict):
    code = "LEASE_NOT_ACTIVE"


def lease_duration(seconds: int) -> timedelta:
    if not MIN_LEASE_SECONDS <= seconds <= MAX_LEASE_SECONDS:
        raise InvalidInput(f"lease_duration_seconds must be between {MIN_LEASE_SECONDS} and "
                           f"{MAX_LEASE_SECONDS}.", {"lease_duration_seconds": seconds})
    return timedelta(seconds=seconds)


class LeasingService:
    def __init__(self, database: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._db = database
        self._now = clock

    async def acquire(self, user_id: uuid.UUID, wanted: ProxyFilter,
                      duration_seconds: int) -> LeaseGrant:
        duration = lease_duration(duration_seconds)
        for _ in range(ACQUIRE_ATTEMPTS):
            async with self._db.writing() as uow:
                try:
                    grant = await self._acquire_once(uow, user_id, wanted, duration)
                except LeaseTaken:
                    continue
                await uow.commit()
                return grant
        raise AllProxiesLeased("Every matching proxy is leased right now; try again shortly.")

    async def _acquire_once(self, uow: UnitOfWork, user_id: uuid.UUID, wanted: ProxyFilter,
                            duration: timedelta) -> LeaseGrant:
        # The debit comes first: it is the 402 check and the charge in one statement, and
        # raising 404/409 afterwards rolls it back with everything else.
        now = self._now()
        moved = await uow.accounts.adjust(user_id, Currency.CREDITS, -LEASE_PRICE_CREDITS)
        if moved is None:
            raise _short(await uow.accounts.balance(user_id, Currency.CREDITS))
        candidate = await uow.leases.candidate(wanted, now)
        if candidate is None:
            if await uow.leases.any_match(wanted):
                raise AllProxiesLeased("All proxies matching the filters are leased.")
            raise NoProxyMatches("No active proxy matches the filters.")
        proxy = candidate.proxy
        lease = Lease(uuid.uuid4(), proxy, user_id, now, now + duration, None)
        await uow.leases.add(lease, end_expired=candidate.carries_expired_lease)
        await uow.accounts.append(user_id, Currency.CREDITS, -LEASE_PRICE_CREDITS, moved,
                                  TxType.ACQUIRE, f"Proxy acquired: {proxy.address.netloc}", now)
        return LeaseGrant(lease, moved[0])

    async def release(self, user_id: uuid.UUID, lease_id: uuid.UUID) -> datetime:
        """End one of the user's live leases now; returns when it ended."""
        now = self._now()
        async with self._db.writing() as uow:
            outcome = await uow.leases.release(lease_id, user_id, now)
            if outcome is ReleaseOutcome.NOT_FOUND:
                raise LeaseNotFound("No such lease.", {"lease_id": str(lease_id)})
            if outcome is ReleaseOutcome.NOT_LIVE:
                raise LeaseNotActive("This lease has already ended.",
                                     {"lease_id": str(lease_id)})
            await uow.commit()
        return now

    async def live(self, user_id: uuid.UUID) -> list[Lease]:
        async with self._db.reading() as uow:
            return await uow.leases.live_of(user_id, self._now())

    async def expire_due(self) -> int:
        async with self._db.writing() as uow:
            ended = await uow.leases.expire_due(self._now())
            await uow.commit()
        return ended


def _short(balance: int) -> InsufficientFunds:
    return InsufficientFunds(
        f"You need at least {LEASE_PRICE_CREDITS} credit to acquire a proxy. "
        f"Current balance: {balance}.",
        {"required": LEASE_PRICE_CREDITS, "balance": balance, "currency": "credits"})
