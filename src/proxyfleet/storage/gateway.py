"""The rotating gateway's rows: per-user usage (added to in batches) and proxy bans."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from proxyfleet.core.gateway import Ban, Usage
from proxyfleet.storage.tables import GatewayBanRow, GatewayUsageRow, ProxyRow, UserRow

PROXIES = cast(Table, ProxyRow.__table__)
USERS = cast(Table, UserRow.__table__)
USAGE = cast(Table, GatewayUsageRow.__table__)
BANS = cast(Table, GatewayBanRow.__table__)


class GatewayRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def _insert(self, table: Any) -> Any:
        dialect = self._session.get_bind().dialect.name
        return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)

    async def add_usage(self, batch: Sequence[Usage], now: datetime) -> None:
        """Add each user's batch to their totals (one row per user, made on first use);
        a user deleted meanwhile is skipped."""
        known = await self._existing(USERS, [u.user_id for u in batch])
        batch = [u for u in batch if u.user_id in known]
        if not batch:
            return
        insert = self._insert(USAGE)
        statement = insert.on_conflict_do_update(
            index_elements=[USAGE.c.user_id],
            set_={"requests": USAGE.c.requests + insert.excluded.requests,
                  "bytes_up": USAGE.c.bytes_up + insert.excluded.bytes_up,
                  "bytes_down": USAGE.c.bytes_down + insert.excluded.bytes_down,
                  "updated_at": insert.excluded.updated_at})
        await self._session.execute(statement, [
            {"user_id": u.user_id, "requests": u.requests, "bytes_up": u.bytes_up,
             "bytes_down": u.bytes_down, "updated_at": now} for u in batch])

    async def _existing(self, table: Table, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        if not ids:
            return set()
        found = await self._session.execute(select(table.c.id).where(table.c.id.in_(set(ids))))
        return set(found.scalars())

    async def usage(self, user_id: uuid.UUID) -> Usage:
        row = (await self._session.execute(
            select(USAGE.c.requests, USAGE.c.bytes_up, USAGE.c.bytes_down)
            .where(USAGE.c.user_id == user_id))).one_or_none()
        return Usage(user_id) if row is None else Usage(user_id, *row)

    async def put_bans(self, bans: Sequence[Ban]) -> None:
        """Record bans; a proxy banned again for a domain gets the later end. Bans of a
        proxy deleted meanwhile are skipped."""
        known = await self._existing(PROXIES, [b.proxy_id for b in bans])
        bans = [b for b in bans if b.proxy_id in known]
        if not bans:
            return
        insert = self._insert(BANS)
        statement = insert.on_conflict_do_update(
            index_elements=[BANS.c.proxy_id, BANS.c.domain],
            set_={"status": insert.excluded.status, "banned_at": insert.excluded.banned_at,
                  "banned_until": insert.excluded.banned_until})
        await self._session.execute(statement, [
            {"proxy_id": b.proxy_id, "domain": b.domain, "status": b.status,
             "banned_at": b.banned_at, "banned_until": b.banned_until} for b in bans])

    async def bans(self, now: datetime, *, domain: str | None = None,
                   limit: int = 1000) -> list[Ban]:
        """Bans in force at `now`, latest first."""
        query = select(BANS).where(BANS.c.banned_until > now)
        if domain is not None:
            query = query.where(BANS.c.domain == domain)
        rows = await self._session.execute(
            query.order_by(BANS.c.banned_at.desc()).limit(limit))
        return [Ban(r.proxy_id, r.domain, r.status, r.banned_at, r.banned_until) for r in rows]

    async def forget_bans_before(self, now: datetime) -> int:
        result = await self._session.execute(delete(BANS).where(BANS.c.banned_until <= now))
        return int(getattr(result, "rowcount", 0) or 0)

    async def check_soon(self, proxy_ids: Sequence[uuid.UUID], at: datetime) -> None:
        """Bring these proxies' next check forward to `at` (they failed in real traffic);
        one already due sooner keeps its time."""
        if not proxy_ids:
            return
        await self._session.execute(
            update(PROXIES).where(PROXIES.c.id.in_(proxy_ids))
            .where(or_(PROXIES.c.next_check_at.is_(None), PROXIES.c.next_check_at > at))
            .values(next_check_at=at).execution_options(synchronize_session=False))
