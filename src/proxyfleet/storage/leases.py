"""Repository for leases. Exclusivity is the database's job: a partial unique index allows one
live lease per proxy; on PostgreSQL candidates are also locked with SKIP LOCKED so concurrent
acquires spread over proxies instead of queueing on the best one. Never commits.

The statements of acquire and release run on every request: they are Core statements on the
tables, built once (or once per filter) with bind parameters. ORM-enabled statements load
entities, synchronise the session and compute a cache key per call, which cost more CPU than
the statement's round trip."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import cast

from sqlalchemy import Select, Table, and_, bindparam, exists, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from proxyfleet.core.leases import Lease, LeaseEnd
from proxyfleet.core.proxies import Proxy, ProxyFilter, ProxyStatus
from proxyfleet.storage.proxies import PROXIES, filter_clauses, proxy_of
from proxyfleet.storage.statements import bulk_update
from proxyfleet.storage.tables import LeaseRow, ProxyRow

LEASES = cast(Table, LeaseRow.__table__)
# Filters seen recently keep their built candidate query (a filter with `verified_since`
# is new every time, so the cache is bounded).
CANDIDATE_QUERIES = 256

_at = bindparam("at", type_=LEASES.c.expires_at.type)
_END_EXPIRED = (
    update(LEASES)
    .where(LEASES.c.proxy_id == bindparam("proxy"), LEASES.c.released_at.is_(None),
           LEASES.c.expires_at <= _at)
    .values(released_at=LEASES.c.expires_at, end_reason=LeaseEnd.EXPIRED.value))
_RELEASE = (
    update(LEASES)
    .where(LEASES.c.id == bindparam("lease"), LEASES.c.user_id == bindparam("owner"),
           LEASES.c.released_at.is_(None), LEASES.c.expires_at > _at)
    .values(released_at=_at, end_reason=LeaseEnd.RELEASED.value))
_OWNER = select(LEASES.c.user_id).where(LEASES.c.id == bindparam("lease"))


class LeaseTaken(Exception):
    """Another transaction leased the proxy first; the caller retries with another."""


class ReleaseOutcome(enum.Enum):
    RELEASED = "released"
    NOT_FOUND = "not_found"
    NOT_LIVE = "not_live"


@dataclass(frozen=True, slots=True)
class Candidate:
    proxy: Proxy
    # The proxy's last lease is over by time but not yet recorded as ended: it must be ended
    # before a new lease can be inserted (one live lease per proxy).
    carries_expired_lease: bool


@lru_cache(maxsize=CANDIDATE_QUERIES)
def _candidate_query(wanted: ProxyFilter, lock: bool) -> Select[tuple[object, ...]]:
    unreleased = and_(LEASES.c.proxy_id == PROXIES.c.id, LEASES.c.released_at.is_(None))
    held = exists().where(unreleased, LEASES.c.expires_at > bindparam("at"))
    query = (select(PROXIES, exists().where(unreleased).label("carries_expired_lease"))
             .where(PROXIES.c.status == ProxyStatus.ACTIVE.value, *filter_clauses(wanted),
                    ~held)
             # Both descending: one backward walk of (status, score, id), no sort.
             .order_by(PROXIES.c.score.desc(), PROXIES.c.id.desc()).limit(1))
    if lock:
        query = query.with_for_update(skip_locked=True, of=PROXIES)
    return query


def _lease_of(row: LeaseRow, proxy: ProxyRow) -> Lease:
    return Lease(row.id, proxy_of(proxy), row.user_id, row.created_at, row.expires_at,
                 row.released_at)


class LeasesRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def candidate(self, wanted: ProxyFilter, now: datetime) -> Candidate | None:
        """The best-scoring active proxy matching `wanted` with no live lease."""
        lock = self._session.get_bind().dialect.name == "postgresql"
        row = (await self._session.execute(_candidate_query(wanted, lock), {"at": now})).first()
        return Candidate(proxy_of(row), bool(row.carries_expired_lease)) if row else None

    async def any_match(self, wanted: ProxyFilter) -> bool:
        query = select(PROXIES.c.id).where(PROXIES.c.status == ProxyStatus.ACTIVE.value,
                                           *filter_clauses(wanted)).limit(1)
        return await self._session.scalar(query) is not None

    async def add(self, lease: Lease, *, end_expired: bool) -> None:
        """Insert a live lease, first ending the expired one the proxy may still carry."""
        if end_expired:
            await self._session.execute(_END_EXPIRED, {"proxy": lease.proxy.id,
                                                       "at": lease.created_at})
        try:
            await self._session.execute(insert(LEASES), {
                "id": lease.id, "proxy_id": lease.proxy.id, "user_id": lease.user_id,
                "created_at": lease.created_at, "expires_at": lease.expires_at})
        except IntegrityError:
            raise LeaseTaken(str(lease.proxy.id)) from None

    async def release(self, lease_id: uuid.UUID, user_id: uuid.UUID,
                      now: datetime) -> ReleaseOutcome:
        result = await self._session.execute(
            _RELEASE, {"lease": lease_id, "owner": user_id, "at": now})
        if result.rowcount == 1:  # type: ignore[attr-defined]
            return ReleaseOutcome.RELEASED
        owner = await self._session.scalar(_OWNER, {"lease": lease_id})
        return ReleaseOutcome.NOT_LIVE if owner == user_id else ReleaseOutcome.NOT_FOUND

    async def live_of(self, user_id: uuid.UUID, now: datetime) -> list[Lease]:
        rows = await self._session.execute(
            select(LeaseRow, ProxyRow).join(ProxyRow, ProxyRow.id == LeaseRow.proxy_id)
            .where(and_(LeaseRow.user_id == user_id, LeaseRow.released_at.is_(None),
                        LeaseRow.expires_at > now))
            .order_by(LeaseRow.expires_at, LeaseRow.id))
        return [_lease_of(lease, proxy) for lease, proxy in rows]

    async def expire_due(self, now: datetime) -> int:
        """Record the end of every lease whose time is up (the proxies were free already)."""
        result = await self._session.execute(
            bulk_update(LeaseRow)
            .where(LeaseRow.released_at.is_(None), LeaseRow.expires_at <= now)
            .values(released_at=LeaseRow.expires_at, end_reason=LeaseEnd.EXPIRED.value))
        return int(result.rowcount)  # type: ignore[attr-defined]
