"""Repository for the inventory: proxies, their check history, pool statistics. Never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, Table, case, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from proxyfleet.core.proxies import (
    Anonymity,
    Proxy,
    ProxyAddress,
    ProxyCheck,
    ProxyFilter,
    ProxyOrigin,
    ProxyProtocol,
    ProxyStatus,
    SortField,
    UpsertCounts,
)
from proxyfleet.storage.sealing import SecretBox
from proxyfleet.storage.tables import (
    NEVER,
    NO_LATENCY_MS,
    NO_UPTIME_PCT,
    ProxyCheckRow,
    ProxyRow,
    SourceRow,
)

SORT_COLUMNS = {
    SortField.SCORE: ProxyRow.score,
    SortField.LATENCY: ProxyRow.avg_latency_ms,
    SortField.UPTIME: ProxyRow.uptime_pct,
    SortField.LAST_CHECKED: ProxyRow.last_checked_at,
}
PROXIES = cast(Table, ProxyRow.__table__)
# Rows per statement when importing: well under SQLite's and asyncpg's parameter limits.
UPSERT_BATCH = 1000
_ADD_PRIVATE: dict[str, Any] = {}
_BOUGHT = PROXIES.c.origin == ProxyOrigin.PROVIDER.value


def address_of(row: ProxyRow | Row[Any], box: SecretBox) -> ProxyAddress:
    """The address of a row, its password opened (passwords are stored sealed)."""
    return ProxyAddress(row.host, row.port, ProxyProtocol(row.protocol), row.username,
                        box.open_optional(row.password))


def proxy_of(row: ProxyRow | Row[Any], box: SecretBox) -> Proxy:
    """The entity from an ORM row or a Core row of the `proxies` table."""
    return Proxy(
        id=row.id, address=address_of(row, box), status=ProxyStatus(row.status),
        anonymity=Anonymity(row.anonymity) if row.anonymity else None,
        exit_ip=row.exit_ip, country=row.country, score=row.score,
        avg_latency_ms=None if row.avg_latency_ms >= NO_LATENCY_MS else row.avg_latency_ms,
        uptime_pct=None if row.uptime_pct <= NO_UPTIME_PCT else row.uptime_pct,
        last_checked_at=None if row.last_checked_at <= NEVER else row.last_checked_at,
        first_seen_at=row.first_seen_at, tags=dict(row.tags or {}),
    )


def filter_clauses(wanted: ProxyFilter, *,
                   walk_sort_index: bool = False) -> list[ColumnElement[bool]]:
    """WHERE terms for a filter. With `walk_sort_index`, the equality terms are written so
    that no index can serve them (`status || ''`): SQLite's planner, offered a filter index
    and a sort index, tends to take the filter and sort every match, where walking the sort
    index stops after one page."""
    status: ColumnElement[Any] = PROXIES.c.status
    country: ColumnElement[Any] = PROXIES.c.country
    if walk_sort_index:
        status, country = status.concat(""), country.concat("")
    # A proxy bought in the shop belongs to its buyer: no query of the shared pool sees it.
    clauses: list[ColumnElement[bool]] = [PROXIES.c.origin != ProxyOrigin.PROVIDER.value]
    if wanted.status is not None:
        clauses.append(status == wanted.status.value)
    if wanted.protocol is not None:
        clauses.append(PROXIES.c.protocol == wanted.protocol.value)
    if wanted.anonymity is not None:
        clauses.append(PROXIES.c.anonymity == wanted.anonymity.value)
    if wanted.country is not None:
        clauses.append(country == wanted.country)
    if wanted.min_score is not None:
        clauses.append(PROXIES.c.score >= wanted.min_score)
    if wanted.max_latency_ms is not None:
        clauses.append(PROXIES.c.avg_latency_ms <= wanted.max_latency_ms)
    if wanted.min_uptime_pct is not None:
        clauses.append(PROXIES.c.uptime_pct >= wanted.min_uptime_pct)
    if wanted.verified_since is not None:
        clauses.append(PROXIES.c.last_checked_at >= wanted.verified_since)
    if wanted.shared is not None:
        clauses.append(PROXIES.c.shared.is_(wanted.shared))
    return clauses


# Rows with something measured for a sort, and those with nothing (their sentinel): the
# unmeasured come after every measured row, in either order (a proxy never checked has no
# score worth ranking either). Ranges, so each part is one range of the sort's index.
MEASURED: dict[SortField, ColumnElement[bool]] = {
    SortField.SCORE: ProxyRow.last_checked_at > NEVER,
    SortField.LATENCY: ProxyRow.avg_latency_ms < NO_LATENCY_MS,
    SortField.UPTIME: ProxyRow.uptime_pct > NO_UPTIME_PCT,
    SortField.LAST_CHECKED: ProxyRow.last_checked_at > NEVER,
}
UNMEASURED: dict[SortField, ColumnElement[bool]] = {
    SortField.SCORE: ProxyRow.last_checked_at <= NEVER,
    SortField.LATENCY: ProxyRow.avg_latency_ms >= NO_LATENCY_MS,
    SortField.UPTIME: ProxyRow.uptime_pct <= NO_UPTIME_PCT,
    SortField.LAST_CHECKED: ProxyRow.last_checked_at <= NEVER,
}


def sort_value(proxy_row: ProxyRow, sort: SortField) -> Any:
    """The row's value for the cursor; None when nothing is measured (the cursor then walks
    the unmeasured rows, by id)."""
    unmeasured = {SortField.SCORE: proxy_row.last_checked_at <= NEVER,
                  SortField.LATENCY: proxy_row.avg_latency_ms >= NO_LATENCY_MS,
                  SortField.UPTIME: proxy_row.uptime_pct <= NO_UPTIME_PCT,
                  SortField.LAST_CHECKED: proxy_row.last_checked_at <= NEVER}[sort]
    return None if unmeasured else getattr(proxy_row, SORT_COLUMNS[sort].key)


class ProxiesRepository:
    def __init__(self, session: AsyncSession, box: SecretBox) -> None:
        self._session = session
        self._box = box

    def _dialect(self) -> str:
        return self._session.get_bind().dialect.name

    def _insert(self) -> Any:
        dialect = self._dialect()
        # The Core table, not the mapped class: the ORM's bulk path costs more than the database.
        return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(PROXIES)

    async def upsert(self, addresses: Sequence[ProxyAddress], origin: ProxyOrigin,
                     source_id: uuid.UUID | None, at: datetime) -> UpsertCounts:
        """Add new proxies and refresh the ones already known, unique by (host, port, protocol)."""
        unique = {address.key: address for address in addresses}
        counts = UpsertCounts(discovered=len(addresses))
        batch = list(unique.values())
        for start in range(0, len(batch), UPSERT_BATCH):
            counts += await self._upsert_batch(batch[start:start + UPSERT_BATCH], origin,
                                               source_id, at)
        return counts

    async def _upsert_batch(self, batch: list[ProxyAddress], origin: ProxyOrigin,
                            source_id: uuid.UUID | None, at: datetime) -> UpsertCounts:
        """One INSERT … ON CONFLICT DO UPDATE … RETURNING per batch: no read first. A row
        whose `first_seen_at` is this batch's time was inserted; any other was refreshed."""
        insert = self._insert()
        incoming = insert.excluded
        statement = insert.on_conflict_do_update(
            index_elements=[PROXIES.c.host, PROXIES.c.port, PROXIES.c.protocol],
            set_={
                "last_seen_at": incoming.last_seen_at,
                # A list that names credentials replaces them; one that does not keeps them,
                # and a bought proxy's login is its buyer's whatever a list says.
                "username": case((_BOUGHT, PROXIES.c.username),
                                 else_=func.coalesce(incoming.username, PROXIES.c.username)),
                "password": case((_BOUGHT, PROXIES.c.password),
                                 (incoming.username.is_not(None), incoming.password),
                                 else_=PROXIES.c.password),
            },
        ).returning(PROXIES.c.first_seen_at)
        rows = [self._new_row(a, origin, source_id, at, self._box) for a in batch]
        connection = await self._session.connection()
        seen = (await connection.execute(statement, rows)).scalars().all()
        new = sum(1 for first_seen in seen if first_seen == at)
        return UpsertCounts(new=new, updated=len(seen) - new)

    async def add_private(self, address: ProxyAddress, origin: ProxyOrigin,
                          at: datetime) -> tuple[uuid.UUID, bool]:
        """Add one proxy that belongs to someone (a shop order's): checked like any other,
        never handed out to anyone else. An endpoint already in the inventory (scraped into
        the pool, or an earlier sale of it) becomes this one: its row takes the new origin
        and login, leaves the shared pool, and is checked anew with that login. Returns the
        row's id and whether the row is new."""
        dialect = self._dialect()
        statement = _ADD_PRIVATE.get(dialect)
        if statement is None:  # built once per dialect: every shop purchase runs it
            insert = self._insert()
            incoming = insert.excluded
            statement = _ADD_PRIVATE[dialect] = (insert.on_conflict_do_update(
                index_elements=[PROXIES.c.host, PROXIES.c.port, PROXIES.c.protocol],
                set_={"origin": incoming.origin, "shared": False, "is_active": True,
                      "username": incoming.username, "password": incoming.password,
                      "source_id": None, "status": incoming.status,
                      "next_check_at": incoming.next_check_at,
                      "last_seen_at": incoming.last_seen_at})
                .returning(PROXIES.c.id, PROXIES.c.first_seen_at))
        row = self._new_row(address, origin, None, at, self._box) | {"shared": False}
        found = (await self._session.execute(statement, row)).one()
        return found.id, found.first_seen_at == at

    @staticmethod
    def _new_row(address: ProxyAddress, origin: ProxyOrigin, source_id: uuid.UUID | None,
                 at: datetime, box: SecretBox) -> dict[str, Any]:
        return {
            "id": uuid.uuid4(), "host": address.host, "port": address.port,
            "protocol": address.protocol.value, "username": address.username,
            "password": box.seal_optional(address.password), "origin": origin.value,
            "source_id": source_id,
            "status": ProxyStatus.UNCHECKED.value, "anonymity": None, "exit_ip": None,
            "country": None, "score": 0.0, "avg_latency_ms": NO_LATENCY_MS,
            "uptime_pct": NO_UPTIME_PCT, "checks_total": 0, "checks_passed": 0,
            "consecutive_failures": 0, "last_checked_at": NEVER, "next_check_at": at,
            "first_seen_at": at, "last_seen_at": at, "tags": {},
        }

    async def page(self, wanted: ProxyFilter, sort: SortField, descending: bool, limit: int,
                   after: tuple[Any, uuid.UUID] | None) -> list[tuple[Proxy, Any]]:
        """A page in keyset order, each proxy with its sort value (for the next cursor): the
        measured rows in the asked order, then the unmeasured ones by id, in either order.
        Each part is one range of the `(column, id)` index."""
        column = SORT_COLUMNS[sort]
        # Score pages keep (status, score, id); PostgreSQL plans well with its statistics.
        walk = sort is not SortField.SCORE and self._dialect() == "sqlite"
        query: Select[ProxyRow] = select(ProxyRow).where(
            *filter_clauses(wanted, walk_sort_index=walk))
        found: list[ProxyRow] = []
        if after is None or after[0] is not None:
            measured = query.where(MEASURED[sort])
            if after is not None:
                position = tuple_(column, ProxyRow.id)
                bound = tuple_(*after)
                measured = measured.where(position < bound if descending else position > bound)
            order = (column.desc(), ProxyRow.id.desc()) if descending else (column, ProxyRow.id)
            found = list(await self._session.scalars(measured.order_by(*order).limit(limit)))
        if len(found) < limit:
            rest = query.where(UNMEASURED[sort])
            if after is not None and after[0] is None:
                rest = rest.where(ProxyRow.id < after[1] if descending else ProxyRow.id > after[1])
            by_id = ProxyRow.id.desc() if descending else ProxyRow.id
            found += await self._session.scalars(rest.order_by(by_id).limit(limit - len(found)))
        return [(proxy_of(row, self._box), sort_value(row, sort)) for row in found]

    async def count(self, wanted: ProxyFilter) -> int:
        query = select(func.count()).select_from(ProxyRow).where(*filter_clauses(wanted))
        return int(await self._session.scalar(query) or 0)

    async def get(self, proxy_id: uuid.UUID) -> Proxy | None:
        row = await self._session.get(ProxyRow, proxy_id)
        return proxy_of(row, self._box) if row else None

    async def recent_checks(self, proxy_id: uuid.UUID, limit: int) -> list[ProxyCheck]:
        rows = await self._session.scalars(
            select(ProxyCheckRow).where(ProxyCheckRow.proxy_id == proxy_id)
            .order_by(ProxyCheckRow.id.desc()).limit(limit))
        return [ProxyCheck(r.checker_name, r.stage, r.passed, r.latency_ms, r.detail,
                           r.created_at) for r in rows]

    async def tally(self, column: Any) -> dict[str, int]:
        rows = await self._session.execute(
            select(column, func.count()).where(column.is_not(None)).group_by(column))
        return {str(key): int(n) for key, n in rows}

    async def stats(self) -> dict[str, Any]:
        checked = ProxyRow.last_checked_at > NEVER
        averages = (await self._session.execute(
            select(func.count(), func.avg(ProxyRow.score),
                   func.max(ProxyRow.last_checked_at))
            .select_from(ProxyRow).where(checked))).one()
        latency = await self._session.scalar(
            select(func.avg(ProxyRow.avg_latency_ms))
            .where(ProxyRow.avg_latency_ms < NO_LATENCY_MS))
        sources = (await self._session.execute(
            select(func.count(), func.count().filter(SourceRow.is_active),
                   func.max(SourceRow.last_scraped_at)))).one()
        last_validation = averages[2]
        return {
            "total_proxies": await self.count(ProxyFilter()),
            "by_status": await self.tally(ProxyRow.status),
            "by_protocol": await self.tally(ProxyRow.protocol),
            "by_anonymity": await self.tally(ProxyRow.anonymity),
            "avg_score": float(averages[1]) if averages[1] is not None else None,
            "avg_latency_ms": float(latency) if latency is not None else None,
            "sources_active": int(sources[1]), "sources_total": int(sources[0]),
            "last_scrape_at": sources[2],
            "last_validation_at": last_validation,
        }

