"""Repository of seed 000's proxies: the inventory rows that carry an integer id (`number`),
with their counters and account sessions. Never commits."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from proxyfleet.core.manager import ManagedProxy
from proxyfleet.core.proxies import ProxyAddress, ProxyOrigin
from proxyfleet.core.rotation import hour_of
from proxyfleet.core.sessions import AccountSession
from proxyfleet.storage.numbers import next_number
from proxyfleet.storage.proxies import PROXIES, ProxiesRepository, address_of
from proxyfleet.storage.sealing import SecretBox
from proxyfleet.storage.sessions import SessionsRepository

_COLUMNS = (PROXIES.c.number, PROXIES.c.id, PROXIES.c.host, PROXIES.c.port,
            PROXIES.c.protocol, PROXIES.c.username, PROXIES.c.password, PROXIES.c.shared,
            PROXIES.c.is_active, PROXIES.c.total_requests, PROXIES.c.failed_requests,
            PROXIES.c.requests_this_hour, PROXIES.c.requests_hour, PROXIES.c.error_count,
            PROXIES.c.first_seen_at, PROXIES.c.updated_at, PROXIES.c.hourly_budget)


class EndpointTaken(Exception):
    """A proxy with this host and port is in the inventory already."""


class ManagedRepository:
    def __init__(self, session: AsyncSession, box: SecretBox,
                 sessions: SessionsRepository) -> None:
        self._session = session
        self._box = box
        self._sessions = sessions

    def _entity(self, row: Row[Any] | Any, now: datetime) -> ManagedProxy:
        address = address_of(row, self._box)
        this_hour = row.requests_this_hour if row.requests_hour == hour_of(now) else 0
        return ManagedProxy(
            number=row.number, proxy_id=row.id, address=address, shared=row.shared,
            is_active=row.is_active, total_requests=row.total_requests,
            failed_requests=row.failed_requests, requests_this_hour=this_hour,
            error_count=row.error_count, created_at=row.first_seen_at,
            updated_at=row.updated_at or row.first_seen_at, hourly_budget=row.hourly_budget)

    async def listing(self, now: datetime) -> list[ManagedProxy]:
        """Every proxy with a seed-000 id, in id order, each with its sessions."""
        rows = list(await self._session.execute(
            select(*_COLUMNS).where(PROXIES.c.number.is_not(None)).order_by(PROXIES.c.number)))
        sessions = await self._sessions.of_proxies(row.id for row in rows)
        return [self._with_sessions(self._entity(row, now), sessions) for row in rows]

    @staticmethod
    def _with_sessions(proxy: ManagedProxy, sessions: dict[uuid.UUID, list[AccountSession]]
                       ) -> ManagedProxy:
        return replace(proxy, sessions=tuple(sessions.get(proxy.proxy_id, ())))

    async def get(self, number: int, now: datetime, *,
                  with_sessions: bool = False) -> ManagedProxy | None:
        return await self._one(PROXIES.c.number == number, now, with_sessions)

    async def get_by_id(self, proxy_id: uuid.UUID, now: datetime, *,
                        with_sessions: bool = False) -> ManagedProxy | None:
        return await self._one(PROXIES.c.id == proxy_id, now, with_sessions)

    async def _one(self, where: ColumnElement[bool], now: datetime,
                   with_sessions: bool) -> ManagedProxy | None:
        row = (await self._session.execute(
            select(*_COLUMNS).where(where, PROXIES.c.number.is_not(None)))).first()
        if row is None:
            return None
        proxy = self._entity(row, now)
        if with_sessions:
            proxy = self._with_sessions(proxy, await self._sessions.of_proxies([row.id]))
        return proxy

    async def endpoint_taken(self, host: str, port: int) -> bool:
        found = await self._session.scalar(
            select(PROXIES.c.id).where(PROXIES.c.host == host, PROXIES.c.port == port).limit(1))
        return found is not None

    async def add(self, address: ProxyAddress, shared: bool, at: datetime,
                  hourly_budget: int | None = None) -> uuid.UUID:
        """Insert a proxy with the next number. Raises EndpointTaken."""
        if await self.endpoint_taken(address.host, address.port):
            raise EndpointTaken(address.netloc)
        # The inventory's own defaults for a new row, so a manager proxy is checked like any.
        row = ProxiesRepository._new_row(address, ProxyOrigin.MANUAL, None, at, self._box)
        row |= {"number": await next_number(self._session), "shared": shared,
                "is_active": True, "updated_at": at, "hourly_budget": hourly_budget}
        try:
            await self._session.execute(insert(PROXIES).values(**row))
        except IntegrityError:  # the same endpoint, inserted meanwhile
            raise EndpointTaken(address.netloc) from None
        return uuid.UUID(str(row["id"]))

    async def remove(self, number: int) -> bool:
        result = await self._session.execute(delete(PROXIES).where(PROXIES.c.number == number))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def change(self, number: int, at: datetime, **values: Any) -> bool:
        """Set `is_active`, `shared` or `hourly_budget` of a numbered proxy."""
        result = await self._session.execute(
            update(PROXIES).where(PROXIES.c.number == number).values(updated_at=at, **values))
        return bool(result.rowcount)  # type: ignore[attr-defined]
