"""Check-round use cases: claim the proxies that are due, run the checker pipeline on them,
record what it found (status, anonymity, exit IP, country, latency, uptime, score, the next
check), bound the history, and forget proxies dead for too long."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import structlog

from proxyfleet.core.clock import utcnow
from proxyfleet.core.errors import InvalidInput, NotFound
from proxyfleet.core.limits import Caps, MemoryLimiter
from proxyfleet.core.proxies import (
    CheckSubject,
    Proxy,
    ProxyAddress,
    ProxyCheck,
    ProxyFilter,
    ProxyStatus,
    RoundRecord,
    SortField,
)
from proxyfleet.metrics import Metrics
from proxyfleet.pool.checkers import CheckContext, Pipeline, PipelineResult, own_public_ip
from proxyfleet.pool.health import HealthBefore, Schedule, after_round, forgotten
from proxyfleet.pool.reach import Reach, Target, reach
from proxyfleet.pool.reach_bounds import ReachBounds, refuse_unless_public
from proxyfleet.storage.uow import Database

log = structlog.get_logger(__name__)

OWN_IP_TTL_SECONDS = 60.0
# How long a reachability target's name may take to resolve for the public-address rule.
RESOLVE_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class CheckingPolicy:
    concurrency: int = 500
    timeout_seconds: float = 10.0
    window_size: int = 20
    history_per_proxy: int = 50
    batch_size: int = 500
    schedule: Schedule = field(default_factory=Schedule)

    @property
    def claim_hold(self) -> timedelta:
        """How long a claimed batch is kept from other rounds: longer than it can take."""
        return timedelta(seconds=self.timeout_seconds * 3 + 60)


@dataclass(frozen=True, slots=True)
class Claim:
    """A claimed batch: the proxies, and the time they are held until (their
    `next_check_at` while the claim lasts)."""

    ids: list[uuid.UUID]
    hold_until: datetime


@dataclass(frozen=True, slots=True)
class RoundSummary:
    checked: int = 0
    alive: int = 0
    forgotten: int = 0


async def _resolved(host: str, port: int) -> list[str]:
    """The addresses a name resolves to here; none when it does not resolve in time (the
    proxies resolve it on their side, and a literal address is judged as itself)."""
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
            found = await asyncio.get_running_loop().getaddrinfo(host, port)
    except OSError:  # socket.gaierror and TimeoutError included
        return []
    return [str(sockaddr[0]) for *_, sockaddr in found]


class CheckingService:
    def __init__(self, database: Database, pipeline: Pipeline, judge_url: str,
                 policy: CheckingPolicy, *, clock: Callable[[], datetime] = utcnow,
                 reach_bounds: ReachBounds | None = None, metrics: Metrics | None = None,
                 on_write: Callable[[], None] | None = None,
                 traffic: Callable[[uuid.UUID, bool], None] | None = None) -> None:
        self._db = database
        self.reach_bounds = reach_bounds or ReachBounds(
            MemoryLimiter(Caps(at_once=2, per_minute=100)))
        self._metrics = metrics
        self._on_write = on_write  # told after each stored round (statuses changed)
        # Where real-traffic outcomes are counted (the rotation service's `record`).
        self._traffic = traffic
        self._pipeline = pipeline
        self._judge_url = judge_url
        self._policy = policy
        self._now = clock
        self._own_ip: tuple[float, str] | None = None

    async def own_ip(self) -> str:
        """Our public address as the judge sees it, asked again every minute."""
        if self._own_ip is None or self._own_ip[0] < time.monotonic():
            address = await own_public_ip(self._judge_url, self._policy.timeout_seconds)
            self._own_ip = (time.monotonic() + OWN_IP_TTL_SECONDS, address)
        return self._own_ip[1]

    async def probe(self, address: ProxyAddress, seconds: float) -> tuple[bool | None, str]:
        """One check of one proxy now, outside any round (a shop refund's evidence): whether
        it passed every stage, with the last check's detail; None when the judge itself does
        not answer, so nothing can be said of the proxy."""
        try:
            own_ip = await self.own_ip()
        except (OSError, TimeoutError, ValueError) as error:
            return None, f"judge unreachable: {error!r}"
        ctx = CheckContext(judge_url=self._judge_url, own_ip=own_ip, timeout=seconds)
        async for result in self._pipeline.check_many([address], ctx, 1):
            return result.alive, result.detail
        return None, "not checked"

    async def reachability(self, url: str, wanted: ProxyFilter, count: int, seconds: float, *,
                           user_id: uuid.UUID, privileged: bool) -> list[tuple[Proxy, Reach]]:
        """Try `url` through the `count` best active proxies matching `wanted`, at once,
        within the user's bounds; only a `privileged` caller (an admin) may aim at a
        non-public address."""
        try:
            target = Target.parse(url)
        except ValueError as error:
            raise InvalidInput(str(error), {"url": url}) from None
        if not privileged:
            refuse_unless_public(target.host, await _resolved(target.host, target.port))
        async with self.reach_bounds.held(user_id, count):
            return await self._reach_through(target, url, wanted, count, seconds)

    async def _reach_through(self, target: Target, url: str, wanted: ProxyFilter, count: int,
                             seconds: float) -> list[tuple[Proxy, Reach]]:
        active = replace(wanted, status=ProxyStatus.ACTIVE)
        async with self._db.reading() as uow:
            chosen = [p for p, _ in await uow.proxies.page(active, SortField.SCORE, True, count,
                                                           None)]
        if not chosen:
            raise NotFound("No active proxy matches the filters.", {"url": url})
        outcomes = await asyncio.gather(*(reach(p.address, target, seconds) for p in chosen))
        if self._traffic is not None:
            for proxy, outcome in zip(chosen, outcomes, strict=True):
                self._traffic(proxy.id, outcome.reachable)
        return list(zip(chosen, outcomes, strict=True))

    async def claim_due(self) -> list[uuid.UUID]:
        return (await self.claim_batch()).ids

    async def claim_batch(self) -> Claim:
        """Claim a batch of due proxies: they are held until the claim's time, which is
        also how a run of the batch proves it still holds them."""
        now = self._now()
        hold = now + self._policy.claim_hold
        async with self._db.writing() as uow:
            claimed = await uow.checks.claim_due(now, hold, self._policy.batch_size)
            await uow.commit()
        return Claim(claimed, hold)

    async def check(self, ids: Sequence[uuid.UUID], claim: datetime | None = None,
                    ) -> RoundSummary:
        """Check these proxies now and record the outcome. With the `claim` they were
        claimed under, only proxies it still holds are checked and recorded, so a task
        delivered twice (a worker killed, its entry handed to another) is harmless."""
        async with self._db.reading() as uow:
            subjects = {s.address: s for s in await uow.checks.subjects(ids, claim)}
        if not subjects:
            return RoundSummary()
        ctx = CheckContext(judge_url=self._judge_url, own_ip=await self.own_ip(),
                           timeout=self._policy.timeout_seconds)
        records: list[RoundRecord] = []
        async for result in self._pipeline.check_many(subjects, ctx, self._policy.concurrency):
            records.append(self._record(subjects[result.proxy], result))
        return await self._store(records, subjects, claim)

    def _record(self, subject: CheckSubject, result: PipelineResult) -> RoundRecord:
        now = self._now()
        before = HealthBefore(subject.health_window, subject.avg_latency_ms,
                              subject.consecutive_failures, subject.last_alive_at,
                              subject.anonymity)
        found = result.findings
        health = after_round(before, result.alive, result.latency_ms,
                             found.anonymity if result.alive else None, now,
                             self._policy.window_size, self._policy.schedule)
        checks = tuple(ProxyCheck(r.checker_name, r.stage, r.passed, r.latency_ms, r.detail, now)
                       for r in result.records)
        return RoundRecord(
            proxy_id=subject.id, status=health.status, health_window=health.window,
            uptime_pct=health.uptime_pct, avg_latency_ms=health.avg_latency_ms,
            consecutive_failures=health.consecutive_failures, last_alive_at=health.last_alive_at,
            score=health.score, next_check_at=health.next_check_at, checked_at=now,
            anonymity=(found.anonymity or subject.anonymity) if result.alive
            else subject.anonymity,
            exit_ip=found.exit_ip if result.alive else subject.exit_ip,
            country=found.country if result.alive and found.country else subject.country,
            checks=checks)

    @staticmethod
    def _count(metrics: Metrics, records: list[RoundRecord]) -> None:
        for record in records:
            for check in record.checks:
                metrics.check(check.stage, check.passed, check.latency_ms)

    async def _store(self, records: list[RoundRecord],
                     subjects: dict[ProxyAddress, CheckSubject],
                     claim: datetime | None) -> RoundSummary:
        now = self._now()
        by_id = {s.id: s for s in subjects.values()}
        async with self._db.writing() as uow:
            if claim is not None:
                held = await uow.checks.still_held(list(by_id), claim)
                records = [r for r in records if r.proxy_id in held]
            gone = [r.proxy_id for r in records
                    if forgotten(r.status, r.last_alive_at, by_id[r.proxy_id].first_seen_at,
                                 now, self._policy.schedule)]
            await uow.checks.record(records, self._policy.history_per_proxy)
            await uow.checks.forget(gone)
            await uow.commit()
        if self._metrics is not None:
            self._count(self._metrics, records)
        if self._on_write is not None:
            self._on_write()
        alive = sum(1 for r in records if r.status is ProxyStatus.ACTIVE)
        log.info("check round stored", checked=len(records), alive=alive, forgotten=len(gone))
        return RoundSummary(len(records), alive, len(gone))
