"""Repository for proxy sources and their schedule. Never commits."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from proxyfleet.core.errors import SourceExists
from proxyfleet.core.proxies import ProxyProtocol, Source
from proxyfleet.storage.statements import bulk_update
from proxyfleet.storage.tables import SourceRow


def source_of(row: SourceRow) -> Source:
    return Source(row.id, row.url, row.parser_name, row.cron_schedule,
                  ProxyProtocol(row.default_protocol), row.is_active, row.created_at,
                  row.last_scraped_at, row.next_run_at, row.last_error,
                  row.consecutive_failures)


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

    async def record_success(self, source_id: uuid.UUID, at: datetime,
                             result: dict[str, Any]) -> None:
        await self.change(source_id, {"last_scraped_at": at, "last_result": result,
                                      "last_error": None, "consecutive_failures": 0})

    async def record_failure(self, source_id: uuid.UUID, at: datetime, error: str) -> None:
        await self._session.execute(
            bulk_update(SourceRow).where(SourceRow.id == source_id)
            .values(last_error=error[:1000], last_error_at=at,
                    consecutive_failures=SourceRow.consecutive_failures + 1))
