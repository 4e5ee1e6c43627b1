"""Repository for proxy sources and their schedule. Never commits."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from proxyfleet.core.errors import SourceExists
from proxyfleet.core.proxies import ProxyProtocol, ProxyStatus, Source
from proxyfleet.storage.statements import bulk_update
from proxyfleet.storage.tables import ProxyRow, SourceRow


def source_of(row: SourceRow) -> Source:
    return Source(row.id, row.url, row.parser_name, row.cron_schedule,
                  ProxyProtocol(row.default_protocol), row.is_active, row.created_at,
                  row.last_scraped_at, row.next_run_at, row.last_error,
                  row.consecutive_failures, row.paused_at, row.last_error_at, row.last_result)


class SourcesRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, source: Source) -> None:
        self._session.add(SourceRow(
            id=source.id, url=source.url, parser_name=source.parser_name,
            cron_schedule=source.cron_schedule, default_protocol=source.default_protocol.value,
            is_active=source.is_active, created_at=source.created_at,
            next_run_at=source.next_run_at, consecutive_failures=0))
        try:
            await self._session.flush()
        except IntegrityError:  # the unique URL: added twice, or by a concurrent request
            raise SourceExists("A source with this URL already exists.",
                               {"url": source.url}) from None

    async def with_url(self, url: str) -> bool:
        found = await self._session.scalar(select(SourceRow.id).where(SourceRow.url == url))
        return found is not None

    async def get(self, source_id: uuid.UUID) -> Source | None:
        row = await self._session.get(SourceRow, source_id)
        return source_of(row) if row else None

    async def page(self, is_active: bool | None, limit: int,
                   after: tuple[datetime, uuid.UUID] | None) -> list[Source]:
        query = select(SourceRow).order_by(SourceRow.created_at, SourceRow.id).limit(limit)
        if is_active is not None:
            query = query.where(SourceRow.is_active == is_active)
        if after is not None:
            query = query.where((SourceRow.created_at > after[0])
                                | ((SourceRow.created_at == after[0]) & (SourceRow.id > after[1])))
        return [source_of(row) for row in await self._session.scalars(query)]

    async def all(self) -> list[Source]:
        rows = await self._session.scalars(
            select(SourceRow).order_by(SourceRow.created_at, SourceRow.id))
        return [source_of(row) for row in rows]

    async def count(self, is_active: bool | None) -> int:
        query = select(func.count()).select_from(SourceRow)
        if is_active is not None:
            query = query.where(SourceRow.is_active == is_active)
        return int(await self._session.scalar(query) or 0)

    async def change(self, source_id: uuid.UUID, changes: dict[str, Any]) -> None:
        await self._session.execute(
            bulk_update(SourceRow).where(SourceRow.id == source_id).values(**changes))

    async def delete(self, source_id: uuid.UUID) -> bool:
        row = await self._session.get(SourceRow, source_id)
        if row is None:
            return False
        await self._session.delete(row)
        await self._session.flush()
        return True

    async def due(self, now: datetime, limit: int) -> list[Source]:
        query = (select(SourceRow)
                 .where(SourceRow.is_active.is_(True), SourceRow.next_run_at <= now)
                 .order_by(SourceRow.next_run_at).limit(limit))
        return [source_of(row) for row in await self._session.scalars(query)]

    async def claim(self, source_id: uuid.UUID, due_at: datetime, next_run_at: datetime) -> bool:
        """Move a due run to its next time; only the process whose update lands runs it."""
        result = await self._session.execute(
            bulk_update(SourceRow)
            .where(SourceRow.id == source_id, SourceRow.next_run_at == due_at)
            .values(next_run_at=next_run_at))
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def start_slot(self, source_id: uuid.UUID, slot: datetime) -> bool:
        """Mark a cron slot's run as started; False when it (or a later one) already was."""
        result = await self._session.execute(
            bulk_update(SourceRow)
            .where(SourceRow.id == source_id,
                   (SourceRow.last_run_slot.is_(None)) | (SourceRow.last_run_slot < slot))
            .values(last_run_slot=slot))
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def record_success(self, source_id: uuid.UUID, at: datetime,
                             result: dict[str, Any]) -> None:
        await self.change(source_id, {"last_scraped_at": at, "last_result": result,
                                      "last_error": None, "consecutive_failures": 0})

    async def record_failure(self, source_id: uuid.UUID, at: datetime, error: str) -> int | None:
        """Count one more failed run; the failures in a row now (None: no such source)."""
        failures = await self._session.scalar(
            bulk_update(SourceRow).where(SourceRow.id == source_id)
            .values(last_error=error[:1000], last_error_at=at,
                    consecutive_failures=SourceRow.consecutive_failures + 1)
            .returning(SourceRow.consecutive_failures))
        return None if failures is None else int(failures)

    async def pause(self, source_id: uuid.UUID, at: datetime) -> bool:
        """Pause an active source by itself; only the process whose update lands reports it."""
        result = await self._session.execute(
            bulk_update(SourceRow).where(SourceRow.id == source_id,
                                         SourceRow.is_active.is_(True))
            .values(is_active=False, paused_at=at))
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def proxy_counts(self, source_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[int, int]]:
        """Per source: the proxies it brought in, and how many of them are active."""
        active = func.sum(case((ProxyRow.status == ProxyStatus.ACTIVE.value, 1), else_=0))
        rows = await self._session.execute(
            select(ProxyRow.source_id, func.count(), active)
            .where(ProxyRow.source_id.in_(source_ids)).group_by(ProxyRow.source_id))
        return {row[0]: (int(row[1]), int(row[2] or 0)) for row in rows}
