"""Counts GET /metrics reports as gauges, read from the database when it is asked. Never
commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from proxyfleet.core.notifiers import DeliveryState
from proxyfleet.storage.tables import DeliveryRow, LeaseRow, ProxyRow


class GaugesRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def proxies(self) -> dict[tuple[str, str], int]:
        """Proxies per (status, protocol)."""
        rows = await self._session.execute(
            select(ProxyRow.status, ProxyRow.protocol, func.count())
            .group_by(ProxyRow.status, ProxyRow.protocol))
        return {(status, protocol): int(count) for status, protocol, count in rows}

    async def live_leases(self, now: datetime) -> int:
        return int(await self._session.scalar(
            select(func.count()).select_from(LeaseRow)
            .where(LeaseRow.released_at.is_(None), LeaseRow.expires_at > now)) or 0)

    async def deliveries_waiting(self) -> int:
        return int(await self._session.scalar(
            select(func.count()).select_from(DeliveryRow)
            .where(DeliveryRow.state == DeliveryState.PENDING.value)) or 0)
