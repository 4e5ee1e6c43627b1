"""Repository for leases. Exclusivity is the database's job: a partial unique index allows one
live lease per proxy; on PostgreSQL candidates are also locked with SKIP LOCKED so concurrent
acquires spread over proxies instead of queueing on the best one. Never commits."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import and_, exists, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from proxyfleet.core.leases import Lease, LeaseEnd
from proxyfleet.core.proxies import Proxy, ProxyFilter, ProxyStatus
from proxyfleet.storage.proxies import filter_clauses, proxy_of
from proxyfleet.storage.statements import bulk_update
from proxyfleet.storage.tables import LeaseRow, ProxyRow


class LeaseTaken(Exception):
    """Another transaction leased the proxy first; the caller retries with another."""


class ReleaseOutcome(enum.Enum):
    RELEASED = "released"
    NOT_FOUND = "not_found"
    NOT_LIVE = "not_live"


def _lease_of(row: LeaseRow, proxy: ProxyRow) -> Lease:
    return Lease(row.id, proxy_of(proxy), row.user_id, row.created_at, row.expires_at,
                 row.released_at)


class LeasesRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def candidate(self, wanted: ProxyFilter, now: datetime) -> Proxy | None:
        """The best-scoring active proxy matching `wanted` with no live lease."""
        live = exists().where(LeaseRow.proxy_id == ProxyRow.id, LeaseRow.released_at.is_(None),
                              LeaseRow.expires_at > now)
        query = (select(ProxyRow)
                 .where(ProxyRow.status == ProxyStatus.ACTIVE.value, *filter_clauses(wanted),
                        ~live)
                 # Both descending: one backward walk of (status, score, id), no sort.
                 .order_by(ProxyRow.score.desc(), ProxyRow.id.desc()).limit(1))
        if self._session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=ProxyRow)
        row = await self._session.scalar(query)
        return proxy_of(row) if row else None

    async def any_match(self, wanted: ProxyFilter) -> bool:
        query = select(ProxyRow.id).where(ProxyRow.status == ProxyStatus.ACTIVE.value,
                                          *filter_clauses(wanted)).limit(1)
        return await self._session.scalar(query) is not None

    async def add(self, lease_id: uuid.UUID, proxy_id: uuid.UUID, user_id: uuid.UUID,
                  now: datetime, expires_at: datetime) -> None:
        """Insert a live lease, first ending an expired one the proxy may still carry."""
        await self._session.execute(
            bulk_update(LeaseRow)
            .where(LeaseRow.proxy_id == proxy_id, LeaseRow.released_at.is_(None),
                   LeaseRow.expires_at <= now)
            .values(released_at=LeaseRow.expires_at, end_reason=LeaseEnd.EXPIRED.value))
        try:
            await self._session.execute(insert(LeaseRow).values(
                id=lease_id, proxy_id=proxy_id, user_id=user_id, created_at=now,
                expires_at=expires_at))
        except IntegrityError:
            raise LeaseTaken(str(proxy_id)) from None

    async def get(self, lease_id: uuid.UUID) -> Lease | None:
        found = (await self._session.execute(
            select(LeaseRow, ProxyRow).join(ProxyRow, ProxyRow.id == LeaseRow.proxy_id)
            .where(LeaseRow.id == lease_id))).first()
        return _lease_of(found[0], found[1]) if found else None

    async def release(self, lease_id: uuid.UUID, user_id: uuid.UUID,
                      now: datetime) -> ReleaseOutcome:
        result = await self._session.execute(
            bulk_update(LeaseRow)
            .where(LeaseRow.id == lease_id, LeaseRow.user_id == user_id,
                   LeaseRow.released_at.is_(None), LeaseRow.expires_at > now)
            .values(released_at=now, end_reason=LeaseEnd.RELEASED.value))
        if result.rowcount == 1:  # type: ignore[attr-defined]
            return ReleaseOutcome.RELEASED
        owner = await self._session.scalar(select(LeaseRow.user_id).where(LeaseRow.id == lease_id))
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
