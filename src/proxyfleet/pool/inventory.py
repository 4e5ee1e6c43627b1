"""Inventory use cases: add proxies in bulk, query the pool, read one proxy, pool stats."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from proxyfleet.core.clock import utcnow
from proxyfleet.core.errors import NotFound
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
from proxyfleet.storage.uow import Database

# Proxies per write transaction when importing: short transactions keep SQLite's single
# writer available to API requests while a million-line import runs.
IMPORT_CHUNK = 5000
RECENT_CHECKS = 20


@dataclass(frozen=True, slots=True)
class ProxyPage:
    items: list[Proxy]
    total_count: int
    next_after: tuple[Any, uuid.UUID] | None


@dataclass(frozen=True, slots=True)
class ProxyDetail:
    proxy: Proxy
    recent_checks: list[ProxyCheck]


def chunked(addresses: Iterable[ProxyAddress], size: int) -> Iterator[list[ProxyAddress]]:
    iterator = iter(addresses)
    while chunk := list(islice(iterator, size)):
        yield chunk


class CountCache:
    """Totals of recent queries for a few seconds: dashboards and scrapers ask for the same
    first page again and again, and counting a million rows is the costly part of it."""

    def __init__(self, seconds: float, capacity: int = 512) -> None:
        self._seconds = seconds
        self._capacity = capacity
        self._totals: dict[ProxyFilter, tuple[float, int]] = {}

    def get(self, wanted: ProxyFilter) -> int | None:
        found = self._totals.get(wanted)
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def clear(self) -> None:
        self._totals.clear()

    def put(self, wanted: ProxyFilter, total: int) -> None:
        if len(self._totals) >= self._capacity:
            self._totals.clear()
        self._totals[wanted] = (time.monotonic() + self._seconds, total)


class InventoryService:
    def __init__(self, database: Database, *, clock: Callable[[], datetime] = utcnow,
                 count_cache_seconds: float = 0.0) -> None:
        self._db = database
        self._now = clock
        self._counts = CountCache(count_cache_seconds)

    async def add(self, addresses: Iterable[ProxyAddress], origin: ProxyOrigin,
                  source_id: uuid.UUID | None = None,
                  progress: Callable[[int], None] | None = None) -> UpsertCounts:
        counts = UpsertCounts()
        for chunk in chunked(addresses, IMPORT_CHUNK):
            async with self._db.writing() as uow:
                counts += await uow.proxies.upsert(chunk, origin, source_id, self._now())
                await uow.commit()
            self.forget_counts()
            if progress is not None:
                progress(len(chunk))
        return counts

    def forget_counts(self) -> None:
        """After a write to the pool: this process's next totals are counted afresh (other
        processes' caches expire within count_cache_seconds)."""
        self._counts.clear()

    async def query(self, wanted: ProxyFilter, sort: SortField, descending: bool, limit: int,
                    after: tuple[Any, uuid.UUID] | None,
                    known_total: int | None = None) -> ProxyPage:
        """One page in keyset order. The total is counted once, for the first page (on its
        own connection, beside the page query); later pages carry it in their cursor, so deep
        pages cost one index range scan each."""
        if known_total is None:
            known_total = self._counts.get(wanted)
        if known_total is None:
            rows, total = await asyncio.gather(
                self._page(wanted, sort, descending, limit + 1, after), self._count(wanted))
        else:
            rows, total = await self._page(wanted, sort, descending, limit + 1, after), known_total
        page = rows[:limit]
        more = len(rows) > limit
        next_after = (page[-1][1], page[-1][0].id) if more else None
        return ProxyPage([proxy for proxy, _ in page], total, next_after)

    async def _page(self, wanted: ProxyFilter, sort: SortField, descending: bool, limit: int,
                    after: tuple[Any, uuid.UUID] | None) -> list[tuple[Proxy, Any]]:
        async with self._db.reading() as uow:
            return await uow.proxies.page(wanted, sort, descending, limit, after)

    async def _count(self, wanted: ProxyFilter) -> int:
        async with self._db.reading() as uow:
            total = await uow.proxies.count(wanted)
        self._counts.put(wanted, total)
        return total

    async def detail(self, proxy_id: uuid.UUID) -> ProxyDetail:
        async with self._db.reading() as uow:
            proxy = await uow.proxies.get(proxy_id)
            if proxy is None:
                raise NotFound("No such proxy.", {"proxy_id": str(proxy_id)})
            return ProxyDetail(proxy, await uow.proxies.recent_checks(proxy_id, RECENT_CHECKS))

    async def stats(self) -> dict[str, Any]:
        """Pool health; every status, protocol and anonymity is there, with 0 when none."""
        async with self._db.reading() as uow:
            found = await uow.proxies.stats()
        for key, kinds in (("by_status", ProxyStatus), ("by_protocol", ProxyProtocol),
                           ("by_anonymity", Anonymity)):
            found[key] = {kind.value: found[key].get(kind.value, 0) for kind in kinds}
        return found

    def verified_since(self, minutes: int) -> datetime:
        # Whole seconds, so the same query a moment later has the same filter (and total).
        return (self._now() - timedelta(minutes=minutes)).replace(microsecond=0)
