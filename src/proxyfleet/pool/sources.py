"""Source use cases: add (with parser auto-detection), change, delete, scrape, claim due runs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

import structlog

from proxyfleet.core.clock import utcnow
from proxyfleet.core.errors import DomainError, InvalidInput, NotFound, SourceExists
from proxyfleet.core.events import Event, EventName
from proxyfleet.core.proxies import (
    ProxyAddress,
    ProxyOrigin,
    ProxyProtocol,
    ScrapeResult,
    Source,
    SourceHealth,
)
from proxyfleet.metrics import Metrics
from proxyfleet.pool.fetch import FetchedList, ListFetcher
from proxyfleet.pool.inventory import InventoryService
from proxyfleet.pool.schedule import next_run, validate_cron
from proxyfleet.storage.uow import Database, UnitOfWork

log = structlog.get_logger(__name__)

# Failed runs in a row after which a source pauses itself, unless the caller says otherwise.
FAILURE_LIMIT = 5


class Parser(Protocol):
    name: str

    def parse(self, content: str, default_protocol: ProxyProtocol) -> Iterator[ProxyAddress]: ...


class Parsers(Protocol):
    def names(self) -> list[str]: ...

    def get(self, name: str) -> Parser: ...

    def detect(self, content: str, content_type: str | None) -> Parser | None: ...


class NoMatchingParser(InvalidInput):
    code = "NO_MATCHING_PARSER"


class SourcesService:
    def __init__(self, database: Database, inventory: InventoryService, parsers: Parsers,
                 fetcher: ListFetcher, *, failure_limit: int = FAILURE_LIMIT,
                 clock: Callable[[], datetime] = utcnow, metrics: Metrics | None = None) -> None:
        self._db = database
        self._metrics = metrics
        self._failure_limit = failure_limit
        self._inventory = inventory
        self._parsers = parsers
        self._fetcher = fetcher
        self._now = clock

    def _parser(self, name: str) -> Parser:
        if name not in self._parsers.names():
            raise NoMatchingParser(f"No parser named {name!r}.",
                                   {"parser_name": name, "available": self._parsers.names()})
        return self._parsers.get(name)

    async def _detect(self, url: str) -> str:
        # A list that cannot be fetched is the upstream's failure (502 UPSTREAM_FAILED), not
        # a format no parser reads.
        fetched = await self._fetcher.fetch(url)
        parser = self._parsers.detect(fetched.text, fetched.content_type)
        if parser is None:
            raise NoMatchingParser("No parser supports this source's content; "
                                   "set parser_name.", {"url": url,
                                                        "available": self._parsers.names()})
        return parser.name

    async def create(self, url: str, parser_name: str | None, cron_schedule: str,
                     default_protocol: ProxyProtocol, is_active: bool = True) -> Source:
        cron = validate_cron(cron_schedule)
        async with self._db.reading() as uow:
            if await uow.sources.with_url(url):  # before fetching it; the index settles races
                raise SourceExists("A source with this URL already exists.", {"url": url})
        name = self._parser(parser_name).name if parser_name else await self._detect(url)
        now = self._now()
        source = Source(uuid.uuid4(), url, name, cron, default_protocol, is_active, now, None,
                        next_run(cron, now), None, 0)
        async with self._db.writing() as uow:
            await uow.sources.add(source)
            await uow.commit()
        return source

    async def get(self, source_id: uuid.UUID) -> Source:
        async with self._db.reading() as uow:
            source = await uow.sources.get(source_id)
        if source is None:
            raise NotFound("No such source.", {"source_id": str(source_id)})
        return source

    async def page(self, is_active: bool | None, limit: int,
                   after: tuple[datetime, uuid.UUID] | None) -> tuple[list[Source], int]:
        async with self._db.reading() as uow:
            return (await uow.sources.page(is_active, limit, after),
                    await uow.sources.count(is_active))

    async def change(self, source_id: uuid.UUID, changes: dict[str, Any]) -> Source:
        changes = dict(changes)
        if "parser_name" in changes:
            changes["parser_name"] = self._parser(changes["parser_name"]).name
        if "cron_schedule" in changes:
            changes["cron_schedule"] = validate_cron(changes["cron_schedule"])
            changes["next_run_at"] = next_run(changes["cron_schedule"], self._now())
        if "default_protocol" in changes:
            changes["default_protocol"] = ProxyProtocol(changes["default_protocol"]).value
        if changes.get("is_active") is True:
            # Turned on again by an admin: no longer paused, its failure count starts over.
            changes |= {"paused_at": None, "consecutive_failures": 0}
        async with self._db.writing() as uow:
            if await uow.sources.get(source_id) is None:
                raise NotFound("No such source.", {"source_id": str(source_id)})
            if changes:
                await uow.sources.change(source_id, changes)
            await uow.commit()
        return await self.get(source_id)

    async def delete(self, source_id: uuid.UUID) -> None:
        """Delete a source; the proxies it found stay (other sources may list them too)."""
        async with self._db.writing() as uow:
            if not await uow.sources.delete(source_id):
                raise NotFound("No such source.", {"source_id": str(source_id)})
            await uow.commit()

    async def scrape(self, source_id: uuid.UUID) -> ScrapeResult:
        """Fetch, parse and import a source now; a failure is recorded, then raised."""
        source = await self.get(source_id)
        started = time.perf_counter()
        try:
            fetched = await self._fetcher.fetch(source.url)
            counts = await self._inventory.add(self._addresses(source, fetched),
                                               ProxyOrigin.SOURCE, source.id)
        except DomainError as error:
            await self._record_failure(source.id, error.message)
            if self._metrics is not None:
                self._metrics.scrape(str(source.id), succeeded=False)
            raise
        result = ScrapeResult(source.id, counts, int((time.perf_counter() - started) * 1000))
        async with self._db.writing() as uow:
            await uow.sources.record_success(source.id, self._now(), {
                "proxies_discovered": counts.discovered, "proxies_new": counts.new,
                "proxies_updated": counts.updated, "duration_ms": result.duration_ms})
            await uow.commit()
        if self._metrics is not None:
            self._metrics.scrape(str(source.id), succeeded=True)
        return result

    def _addresses(self, source: Source, fetched: FetchedList) -> Iterator[ProxyAddress]:
        return self._parser(source.parser_name).parse(fetched.text, source.default_protocol)

    async def _record_failure(self, source_id: uuid.UUID, error: str) -> None:
        """Count the failed run and report it (`source.failed`); at the failure limit the
        source pauses itself and reports that too (`source.disabled`), once."""
        now = self._now()
        async with self._db.writing() as uow:
            failures = await uow.sources.record_failure(source_id, now, error)
            source = await uow.sources.get(source_id)
            if failures is not None and source is not None:
                await self._report_failure(uow, source, error, failures, now)
            await uow.commit()
        log.warning("scrape failed", source_id=str(source_id), error=error)

    async def _report_failure(self, uow: UnitOfWork, source: Source, error: str,
                              failures: int, now: datetime) -> None:
        payload = {"source_id": str(source.id), "url": source.url, "error": error,
                   "consecutive_failures": failures}
        uow.events.add(Event(EventName.SOURCE_FAILED, payload, occurred_at=now))
        if failures >= self._failure_limit and await uow.sources.pause(source.id, now):
            uow.events.add(Event(EventName.SOURCE_DISABLED, payload, occurred_at=now))
            log.warning("source paused after failing too often", source_id=str(source.id),
                        failures=failures)

    async def health(self, source_id: uuid.UUID) -> SourceHealth:
        async with self._db.reading() as uow:
            source = await uow.sources.get(source_id)
            if source is None:
                raise NotFound("No such source.", {"source_id": str(source_id)})
            total, active = (await uow.sources.proxy_counts([source_id])).get(source_id, (0, 0))
        return SourceHealth(source, total, active)

    async def health_all(self) -> list[SourceHealth]:
        async with self._db.reading() as uow:
            sources = await uow.sources.all()
            counts = await uow.sources.proxy_counts([source.id for source in sources])
        return [SourceHealth(source, *counts.get(source.id, (0, 0))) for source in sources]

    async def claim_due(self, limit: int = 100) -> list[Source]:
        return [source for source, _ in await self.claim_due_runs(limit)]

    async def claim_due_runs(self, limit: int = 100) -> list[tuple[Source, datetime]]:
        """Claim every active source whose time has come, moving it to its next run; each
        with the slot claimed (the due time). Each due run is claimed by one conditional
        update, so several schedulers never take it twice."""
        now = self._now()
        claimed = []
        async with self._db.writing() as uow:
            for source in await uow.sources.due(now, limit):
                assert source.next_run_at is not None
                upcoming = next_run(source.cron_schedule, now)
                if await uow.sources.claim(source.id, source.next_run_at, upcoming):
                    claimed.append((replace(source, next_run_at=upcoming), source.next_run_at))
            await uow.commit()
        return claimed

    async def scrape_slot(self, source_id: uuid.UUID, slot: datetime) -> ScrapeResult | None:
        """The scheduled scrape of one cron slot, at most once: a task delivered again for
        a slot already started (its worker killed mid-way, or still running) does nothing
        and returns None. A run cut short is not retried; the next slot scrapes again."""
        async with self._db.writing() as uow:
            started = await uow.sources.start_slot(source_id, slot)
            await uow.commit()
        if not started:
            log.info("scrape slot already taken", source_id=str(source_id), slot=slot)
            return None
        return await self.scrape(source_id)
