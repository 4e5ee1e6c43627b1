"""Repository for local IPv6 egress instances (seed 004) and the addresses ever handed out.

`InstanceRecord` is the stored instance as the layers above see it. It lives here rather than
in `core` only because this change could not touch `core`; it imports nothing but the standard
library and can move there unchanged. Never commits.

May import `proxyfleet.core`, SQLAlchemy and the standard library.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from proxyfleet.storage.statements import bulk_update
from proxyfleet.storage.tables import InstanceRow, Ipv6AddressRow


class InstanceType(enum.StrEnum):
    HTTP = "http"
    SOCKS5 = "socks5"
    BOTH = "both"


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    id: uuid.UUID
    type: InstanceType
    interface: str
    ipv6_address: str
    http_port: int | None
    socks5_port: int | None
    created_at: datetime
    expires_at: datetime | None = None


class AddressTaken(Exception):
    """The address was handed out before (perhaps by another process a moment ago)."""


def _record_of(row: InstanceRow) -> InstanceRecord:
    return InstanceRecord(row.id, InstanceType(row.type), row.interface, row.ipv6_address,
                          row.http_port, row.socks5_port, row.created_at, row.expires_at)


class InstancesRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, record: InstanceRecord) -> None:
        await self._session.execute(insert(InstanceRow).values(
            id=record.id, type=record.type.value, interface=record.interface,
            ipv6_address=record.ipv6_address, http_port=record.http_port,
            socks5_port=record.socks5_port, created_at=record.created_at,
            expires_at=record.expires_at))

    async def live(self) -> list[InstanceRecord]:
        """Every instance not deleted, oldest first (expired temp ones included)."""
        rows = await self._session.scalars(
            select(InstanceRow).where(InstanceRow.deleted_at.is_(None))
            .order_by(InstanceRow.created_at, InstanceRow.id))
        return [_record_of(row) for row in rows]

    async def get(self, instance_id: uuid.UUID) -> InstanceRecord | None:
        row = await self._session.scalar(
            select(InstanceRow).where(InstanceRow.id == instance_id,
                                      InstanceRow.deleted_at.is_(None)))
        return _record_of(row) if row else None

    async def expired(self, now: datetime) -> list[uuid.UUID]:
        found = await self._session.scalars(
            select(InstanceRow.id).where(InstanceRow.deleted_at.is_(None),
                                         InstanceRow.expires_at <= now))
        return list(found)

    async def mark_deleted(self, ids: Iterable[uuid.UUID], now: datetime) -> list[uuid.UUID]:
        """End the live ones among `ids`; returns those this call ended."""
        wanted = list(ids)
        if not wanted:
            return []
        ended = await self._session.scalars(
            update(InstanceRow)
            .where(InstanceRow.id.in_(wanted), InstanceRow.deleted_at.is_(None))
            .values(deleted_at=now).returning(InstanceRow.id))
        return list(ended)

    async def set_ports(self, instance_id: uuid.UUID, http_port: int | None,
                        socks5_port: int | None) -> None:
        await self._session.execute(
            bulk_update(InstanceRow).where(InstanceRow.id == instance_id)
            .values(http_port=http_port, socks5_port=socks5_port))

    async def remember_address(self, address: str, prefix: str, interface: str,
                               now: datetime) -> None:
        """Record `address` as handed out, or raise `AddressTaken` if it ever was."""
        taken = await self._session.scalar(
            select(Ipv6AddressRow.address).where(Ipv6AddressRow.address == address))
        if taken is not None:
            raise AddressTaken(address)
        try:
            await self._session.execute(insert(Ipv6AddressRow).values(
                address=address, prefix=prefix, interface=interface, allocated_at=now))
        except IntegrityError:  # a concurrent writer won; this unit of work is now spoiled
            raise AddressTaken(address) from None

    async def addresses_used(self, prefix: str) -> int:
        count = await self._session.scalar(
            select(func.count()).select_from(Ipv6AddressRow)
            .where(Ipv6AddressRow.prefix == prefix))
        return int(count or 0)

    async def addresses_in(self, prefix: str) -> set[str]:
        found = await self._session.scalars(
            select(Ipv6AddressRow.address).where(Ipv6AddressRow.prefix == prefix))
        return set(found)
