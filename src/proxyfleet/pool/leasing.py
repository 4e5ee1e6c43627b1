"""Lease use cases: acquire the best free proxy for a credit, release early, list, expire.

The lease, its debit and its ledger entry are written all or nothing (one transaction on
SQLite, one statement on PostgreSQL): a failed debit leaves no lease, a lost race no debit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from proxyfleet.core.accounts import Currency
from proxyfleet.core.clock import utcnow
from proxyfleet.core.errors import (
    Conflict,
    DomainError,
    InsufficientFunds,
    InvalidInput,
    NotFound,
)
from proxyfleet.core.events import credit_events
from proxyfleet.core.leases import Lease, LeaseGrant
from proxyfleet.core.proxies import ProxyFilter
from proxyfleet.metrics import Metrics
from proxyfleet.storage.leases import LeaseRequest, LeaseTaken, ReleaseOutcome
from proxyfleet.storage.uow import Database, UnitOfWork

LEASE_PRICE_CREDITS = 1
MIN_LEASE_SECONDS = 1
MAX_LEASE_SECONDS = 3600
# Retries after losing a proxy to a concurrent acquire, or finding it still carries an
# expired lease (PostgreSQL only; SQLite serialises and ends the expired lease in place).
ACQUIRE_ATTEMPTS = 8
# The ledger entry of an acquire reads "Proxy acquired: 10.0.0.1:8080".
ACQUIRE_DESCRIPTION = "Proxy acquired: "


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
    def __init__(self, database: Database, *, clock: Callable[[], datetime] = utcnow,
                 credits_low_threshold: int = 0, metrics: Metrics | None = None) -> None:
        self._db = database
        self._metrics = metrics
        self._now = clock
        self._credits_low = credits_low_threshold

    async def acquire(self, user_id: uuid.UUID, wanted: ProxyFilter, duration_seconds: int,
                      idempotency_key: str | None = None) -> LeaseGrant:
        """Lease the best free matching proxy for a credit. Under an `idempotency_key` the
        first grant is the answer to every later call with the key (charged once)."""
        duration = lease_duration(duration_seconds)
        for _ in range(ACQUIRE_ATTEMPTS):
            request = LeaseRequest(uuid.uuid4(), user_id, wanted, duration,
                                   LEASE_PRICE_CREDITS, ACQUIRE_DESCRIPTION, idempotency_key)
            async with self._db.writing_statements() as uow:
                if idempotency_key is not None:
                    earlier = await uow.leases.by_key(user_id, idempotency_key)
                    if earlier is not None:
                        return earlier
                try:
                    attempt = await uow.leases.grant(request, self._now)
                except LeaseTaken:
                    continue  # a lost race, on the proxy or on the key: look again
                if attempt.candidate is None or attempt.balance_after is None:
                    raise await _refusal(uow, wanted, request, attempt.candidate is None)
                # On PostgreSQL the grant has committed as one statement and these events are
                # written by the next; on SQLite they share the grant's transaction.
                for event in credit_events(user_id, attempt.balance_after + request.price,
                                           attempt.balance_after, self._credits_low):
                    uow.events.add(event)
                await uow.commit()
            if self._metrics is not None:
                self._metrics.lease_granted()
            assert attempt.created_at is not None
            lease = Lease(request.lease_id, attempt.candidate.proxy, user_id, attempt.created_at,
                          attempt.created_at + duration, None)
            return LeaseGrant(lease, attempt.balance_after)
        raise AllProxiesLeased("Every matching proxy is leased right now; try again shortly.")

    async def release(self, user_id: uuid.UUID, lease_id: uuid.UUID) -> datetime:
        """End one of the user's live leases now; returns when it ended."""
        async with self._db.writing_statements() as uow:
            outcome, ended = await uow.leases.release(lease_id, user_id, self._now)
            if outcome is ReleaseOutcome.NOT_FOUND:
                raise LeaseNotFound("No such lease.", {"lease_id": str(lease_id)})
            if outcome is ReleaseOutcome.NOT_LIVE:
                raise LeaseNotActive("This lease has already ended.",
                                     {"lease_id": str(lease_id)})
            await uow.commit()
        assert ended is not None
        return ended

    async def live(self, user_id: uuid.UUID) -> list[Lease]:
        async with self._db.reading() as uow:
            return await uow.leases.live_of(user_id, self._now())

    async def expire_due(self) -> int:
        """Record the end of every lease whose time is up, each with its `lease.expired`."""
        async with self._db.writing() as uow:
            ended = await uow.leases.expire_due(self._now())
            await uow.commit()
        return ended


async def _refusal(uow: UnitOfWork, wanted: ProxyFilter, request: LeaseRequest,
                   no_proxy_free: bool) -> DomainError:
    """Why nothing was leased, in the documented order: 402, then 404, then 409."""
    balance = await uow.accounts.balance(request.user_id, Currency.CREDITS)
    if balance < request.price or not no_proxy_free:
        return _short(balance)
    if await uow.leases.any_match(wanted):
        return AllProxiesLeased("All proxies matching the filters are leased.")
    return NoProxyMatches("No active proxy matches the filters.")


def _short(balance: int) -> InsufficientFunds:
    return InsufficientFunds(
        f"You need at least {LEASE_PRICE_CREDITS} credit to acquire a proxy. "
        f"Current balance: {balance}.",
        {"required": LEASE_PRICE_CREDITS, "balance": balance, "currency": "credits"})
