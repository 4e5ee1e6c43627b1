"""Repository of the rotation service: the snapshot of proxies it may hand out, the batched
counter updates of real traffic, the shared settings row, seed 000's integer ids. Never
commits.

A reload reads every row the rotation may hand out and turns into a new `Candidate` only a
row that changed since the last reload (`SnapshotMemo`): a 10,000-proxy pool reloads without
rebuilding 10,000 objects. The rows are read in one statement, not streamed (a reload
cancelled with a cursor open leaves its connection to be torn down mid-statement), and gone
through a slice at a time, the loop let run between slices: a gateway's clients do not wait
out the whole reload.

Counters move by increment UPDATEs (`x = x + :n`), so outcomes flushed by any number of
processes add up exactly; rows are updated in id order so two flushes never deadlock."""

from __future__ import annotations

import asyncio
import typing
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, Float, Integer, Table, bindparam, case, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from proxyfleet.core.proxies import (
    Anonymity,
    ProxyAddress,
    ProxyOrigin,
    ProxyProtocol,
    ProxyStatus,
)
from proxyfleet.core.rotation import Candidate, Outcomes, RotationSettings, Strategy
from proxyfleet.storage.numbers import next_number
from proxyfleet.storage.proxies import PROXIES
from proxyfleet.storage.tables import (
    NEVER,
    NO_LATENCY_MS,
    NO_UPTIME_PCT,
    RotationSettingsRow,
    ShopOrderRow,
)

SETTINGS = typing.cast(Table, RotationSettingsRow.__table__)
ORDERS = typing.cast(Table, ShopOrderRow.__table__)
SETTINGS_ROW_ID = 1

# What the rotation may hand out: checked alive and enabled by an admin.
_IN_SERVICE = (PROXIES.c.status == ProxyStatus.ACTIVE.value, PROXIES.c.is_active.is_(True))
_SNAPSHOT = (
    select(PROXIES.c.id, PROXIES.c.number, PROXIES.c.host, PROXIES.c.port, PROXIES.c.protocol,
           PROXIES.c.username, PROXIES.c.password, PROXIES.c.shared, PROXIES.c.anonymity,
           PROXIES.c.country, PROXIES.c.score, PROXIES.c.avg_latency_ms, PROXIES.c.uptime_pct,
           PROXIES.c.last_checked_at, PROXIES.c.health_window, PROXIES.c.hourly_budget,
           PROXIES.c.total_requests, PROXIES.c.failed_requests, PROXIES.c.requests_this_hour,
           PROXIES.c.requests_hour, PROXIES.c.error_count, PROXIES.c.cooling_until,
           PROXIES.c.first_seen_at, PROXIES.c.updated_at, PROXIES.c.origin)
    .where(*_IN_SERVICE))
# Who owns each bought proxy the snapshot may hold: the buyer of the order that names it, while
# not refunded. Driven from the proxies (through `ix_shop_orders_inventory_id`), so a reload
# reads the orders of the bought proxies in service, not every order ever sold.
_OWNERS = (
    select(ORDERS.c.inventory_id, ORDERS.c.user_id)
    .join(PROXIES, PROXIES.c.id == ORDERS.c.inventory_id)
    .where(PROXIES.c.origin == ProxyOrigin.PROVIDER.value, *_IN_SERVICE,
           ORDERS.c.refunded_at.is_(None)))


def _record_statement() -> Any:
    hour = bindparam("hour", type_=Integer())
    total = bindparam("total", type_=Integer())
    tail = bindparam("tail", type_=Integer())
    latency = bindparam("latency", type_=Float())
    errors = case((bindparam("reset", type_=Boolean()), tail),
                  else_=PROXIES.c.error_count + tail)
    return (
        update(PROXIES).where(PROXIES.c.id == bindparam("proxy"))
        .values(
            total_requests=PROXIES.c.total_requests + total,
            failed_requests=PROXIES.c.failed_requests + bindparam("failed", type_=Integer()),
            # An older hour flushed late never overwrites a newer one's count.
            requests_this_hour=case(
                (PROXIES.c.requests_hour == hour, PROXIES.c.requests_this_hour + total),
                (PROXIES.c.requests_hour > hour, PROXIES.c.requests_this_hour),
                else_=total),
            requests_hour=case((PROXIES.c.requests_hour > hour, PROXIES.c.requests_hour),
                               else_=hour),
            error_count=errors,
            # Time to first byte in real traffic moves the moving average as a check does.
            avg_latency_ms=case(
                (latency.is_(None), PROXIES.c.avg_latency_ms),
                (PROXIES.c.avg_latency_ms >= NO_LATENCY_MS, latency),
                else_=PROXIES.c.avg_latency_ms
                + (latency - PROXIES.c.avg_latency_ms) * bindparam("weight", type_=Float())),
            cooling_until=case(
                (errors >= bindparam("threshold", type_=Integer()),
                 bindparam("cool_until", type_=PROXIES.c.cooling_until.type)),
                else_=None),
            updated_at=bindparam("at", type_=PROXIES.c.updated_at.type)))


_RECORD = _record_statement()


def candidate_of(row: Sequence[Any], owner: uuid.UUID | None = None) -> Candidate:
    """The candidate a `_SNAPSHOT` row makes; its password stays sealed: the rotation opens it
    only when the proxy is handed out (and remembers what it opened), not for every row of
    every reload. The row is unpacked by position (bench/rotation_reload.py: reading each
    field by name cost half of a reload that remade every candidate)."""
    (proxy_id, number, host, port, protocol, username, password, shared, anonymity, country,
     checker_score, avg_latency_ms, uptime_pct, last_checked_at, health_window, hourly_budget,
     total_requests, failed_requests, requests_this_hour, requests_hour, error_count,
     cooling_until, first_seen_at, updated_at, _) = row
    return Candidate(
        proxy_id=proxy_id, number=number,
        address=ProxyAddress(host, port, ProxyProtocol(protocol), username, password),
        shared=shared, anonymity=Anonymity(anonymity) if anonymity else None, country=country,
        checker_score=checker_score,
        avg_latency_ms=None if avg_latency_ms >= NO_LATENCY_MS else avg_latency_ms,
        uptime_pct=None if uptime_pct <= NO_UPTIME_PCT else uptime_pct,
        last_checked_at=None if last_checked_at <= NEVER else last_checked_at,
        health_window=health_window or "", hourly_budget=hourly_budget,
        total_requests=total_requests, failed_requests=failed_requests,
        requests_this_hour=requests_this_hour, requests_hour=requests_hour,
        error_count=error_count, cooling_until=cooling_until, created_at=first_seen_at,
        updated_at=updated_at or first_seen_at, owner=owner)


@dataclass(slots=True)
class SnapshotMemo:
    """What the last reload read, by proxy id: the row's values and its owner, with the
    `Candidate` made of them. Kept by the rotation service from one reload to the next."""

    seen: dict[uuid.UUID, tuple[tuple[Any, ...], Candidate]] = field(default_factory=dict)
    made: int = 0
    """Candidates the last reload had to make anew (the rest were the same as before)."""


# Rows gone through between two turns of the event loop: a few milliseconds' work.
ROWS_PER_TURN = 500


class RotationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def _insert(self) -> Any:
        dialect = self._session.get_bind().dialect.name
        return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(SETTINGS)

    async def candidates(self, memo: SnapshotMemo | None = None) -> list[Candidate]:
        """Every proxy the rotation may hand out: checked alive and enabled by an admin, and
        for a bought one, owned (an order not refunded names it: it goes to that buyer).
        With `memo`, a row that reads as it did last time gives the same `Candidate` again,
        and `memo` is brought up to date."""
        memo = memo if memo is not None else SnapshotMemo()
        owners = {row.inventory_id: row.user_id
                  for row in await self._session.execute(_OWNERS)}
        before, seen = memo.seen, {}
        made = 0
        for count, row in enumerate(await self._session.execute(_SNAPSHOT), 1):
            if count % ROWS_PER_TURN == 0:
                await asyncio.sleep(0)  # every row is read already: no cursor waits
            owner = owners.get(row.id)
            if row.origin == ProxyOrigin.PROVIDER.value and owner is None:
                continue
            values = (*row, owner)
            known = before.get(row.id)
            if known is not None and known[0] == values:
                seen[row.id] = known
            else:
                seen[row.id] = (values, candidate_of(row, owner))
                made += 1
        memo.seen, memo.made = seen, made
        return [candidate for _, candidate in seen.values()]

    async def record(self, batch: Sequence[Outcomes], settings: RotationSettings,
                     at: datetime, latency_weight: float) -> None:
        """Add a batch of outcomes to the proxies' counters (one executemany UPDATE); a
        batch's mean latency enters the proxy's average with `latency_weight`."""
        if not batch:
            return
        cool_until = at + timedelta(seconds=settings.cooloff_seconds)
        rows = [{"proxy": o.proxy_id, "hour": o.hour, "total": o.total, "failed": o.failed,
                 "reset": o.reset, "tail": o.tail, "threshold": settings.error_threshold,
                 "cool_until": cool_until, "at": at, "latency": o.latency_ms,
                 "weight": latency_weight}
                for o in sorted(batch, key=lambda o: (o.proxy_id, o.hour))]
        connection = await self._session.connection()
        await connection.execute(_RECORD, rows)

    async def load_settings(self) -> RotationSettings | None:
        row = (await self._session.execute(
            select(SETTINGS).where(SETTINGS.c.id == SETTINGS_ROW_ID))).first()
        if row is None:
            return None
        return RotationSettings(health_window=row.health_window,
                                hourly_budget=row.hourly_budget,
                                error_threshold=row.error_threshold,
                                cooloff_seconds=row.cooloff_seconds,
                                strategy=Strategy(row.strategy))

    async def save_settings(self, settings: RotationSettings, at: datetime) -> None:
        values = {"health_window": settings.health_window,
                  "hourly_budget": settings.hourly_budget,
                  "error_threshold": settings.error_threshold,
                  "cooloff_seconds": settings.cooloff_seconds,
                  "strategy": settings.strategy.value, "updated_at": at}
        insert = self._insert()
        await self._session.execute(
            insert.values(id=SETTINGS_ROW_ID, **values)
            .on_conflict_do_update(index_elements=[SETTINGS.c.id], set_=values))

    async def number_of(self, proxy_id: uuid.UUID) -> int | None:
        """The proxy's seed-000 id, given now if it had none (None: no such proxy)."""
        current = (await self._session.execute(
            select(PROXIES.c.number).where(PROXIES.c.id == proxy_id))).first()
        if current is None or current.number is not None:
            return None if current is None else int(current.number)
        await self._session.execute(
            update(PROXIES).where(PROXIES.c.id == proxy_id, PROXIES.c.number.is_(None))
            .values(number=await next_number(self._session)))
        # Another transaction may have numbered it first (its number stands).
        number = await self._session.scalar(
            select(PROXIES.c.number).where(PROXIES.c.id == proxy_id))
        return int(number) if number is not None else None
