"""The rotation service: the one place that chooses a proxy per request, for the gateway (per
connection), account sessions and `GET /api/proxies/next`. Its rules are pure, in
`rotation_rules.py`; this module holds the state around them.

- Picks never wait on the database: they choose from an in-memory snapshot of the proxies
  that may be handed out (alive, enabled), reloaded every `refresh_seconds` and at once
  after this process changes the inventory or the settings (`refresh()`). A reload remakes
  only what changed, and the background reloads (`refresh_quietly`) come no closer together
  than RELOAD_SPACING times the last one's duration, so a large pool's reloads take at most
  about 1/RELOAD_SPACING of the process' time, however short `refresh_seconds` is.
- Outcomes (`record`) are counted in memory at once (so the next pick sees a failing proxy
  and its budget) and flushed in batches of increment UPDATEs (exact across processes)
  every `flush_seconds`; `record_durably` waits for the flush that stores its outcome
  (group commit: concurrent callers share one).
- The hourly budget counts stored requests, unflushed ones and picks not yet answered by an
  outcome; with Redis, each flush also adds this process's requests to a shared per-hour
  count, whose totals come back at once instead of at the next snapshot.
- The settings live in the database (one row), so every process follows the same.

Imports `core`, the pool's rules and the storage interfaces.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from proxyfleet.core.clock import utcnow
from proxyfleet.core.manager import ManagedProxy
from proxyfleet.core.proxies import ProxyFilter
from proxyfleet.core.rotation import (
    Candidate,
    Outcomes,
    Pick,
    RotationSettings,
    Strategy,
    Want,
    hour_of,
)
from proxyfleet.pool.health import LATENCY_SMOOTHING, smoothed_latency
from proxyfleet.pool.rotation_rules import (
    PROBATION_SECONDS,
    Availability,
    Chooser,
    Group,
    Live,
    admissible,
    availability,
    score,
)
from proxyfleet.storage.database import is_database_failure
from proxyfleet.storage.rotation import ROWS_PER_TURN, SnapshotMemo
from proxyfleet.storage.uow import Database

log = structlog.get_logger(__name__)

# Filter groups kept per snapshot (a filter with `verified_since` is new every time).
GROUPS = 256
REDIS_HOUR_TTL_SECONDS = 7200
# A background reload waits at least this many times as long as the last one took
# (bench/rotation_reload.py: a 10,000-proxy reload costs ~0.1-0.3 s of CPU).
RELOAD_SPACING = 20.0


class HourCounter(Protocol):
    """Redis' part in the budget: add to a shared count and get the totals back."""

    async def add(self, counts: dict[str, int], ttl_seconds: int) -> dict[str, int]: ...


class RotationService:
    def __init__(self, database: Database, *, clock: Callable[[], datetime] = utcnow,
                 hour_counter: HourCounter | None = None,
                 rng: random.Random | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._db = database
        self._now = clock
        self._monotonic = monotonic
        self._hours = hour_counter
        self._chooser = Chooser(rng or random.Random())
        self._settings = RotationSettings()
        self._candidates: dict[uuid.UUID, Candidate] = {}
        self._groups: dict[tuple[ProxyFilter, bool, uuid.UUID | None], Group] = {}
        self._live: dict[uuid.UUID, Live] = {}
        self._scores: dict[uuid.UUID, float] = {}
        self._pending: dict[tuple[uuid.UUID, int], Outcomes] = {}
        self._opened: dict[str, str] = {}
        # Picks whose outcome has not been recorded yet (a gateway tunnel records when it
        # ends), by the clock hour they were made in: counted against that hour's budget,
        # and kept across snapshot reloads within it, which know only stored and pending
        # outcomes. A pick never answered (a `next` client that does not report) is
        # forgotten when its hour ends.
        self._in_flight: dict[tuple[uuid.UUID, int], int] = {}
        self._lock = asyncio.Lock()
        self._memo = SnapshotMemo()
        self._next_reload = 0.0
        """When a background reload may run again (monotonic seconds)."""
        self.loaded = False

    # -- the hot path ------------------------------------------------------------------

    async def pick(self, want: Want) -> Pick | None:
        """The proxy to use next for `want`, or None when no proxy may be handed out."""
        settings = self._settings
        strategy = want.effective_strategy or settings.strategy
        group = self._group(want.filter, want.include_private, want.owner)
        now, monotonic = self._now(), self._monotonic()
        hour = hour_of(now)

        slowest = want.filter.max_latency_ms

        def usable(candidate: Candidate) -> bool:
            live = self._live_of(candidate, hour)
            return admissible(candidate, want) and availability(
                candidate, live, settings, now, monotonic) is not Availability.NO and not (
                slowest is not None and live.latency_ms is not None
                and live.latency_ms > slowest)

        candidate = self._chooser.choose(
            group, strategy, usable, cursor=(want.filter, want.include_private, want.among),
            key=want.key, monotonic=monotonic, sticky_seconds=want.sticky_seconds,
            usage=lambda c: self._live_of(c, hour).used)
        if candidate is None:
            return None
        if want.counts:
            self._count_pick(candidate, now, monotonic, hour)
        return self._pick_of(candidate)

    def _count_pick(self, candidate: Candidate, now: datetime, monotonic: float,
                    hour: int) -> None:
        live = self._live_of(candidate, hour)
        if availability(candidate, live, self._settings, now,
                        monotonic) is Availability.PROBATION:
            live.probation_until = monotonic + PROBATION_SECONDS
        live.used += 1
        flying = (candidate.proxy_id, hour)
        self._in_flight[flying] = self._in_flight.get(flying, 0) + 1

    def record(self, proxy_id: uuid.UUID, ok: bool, latency_ms: float | None = None) -> None:
        """Count one request's outcome through a proxy, and the latency it showed (time to
        first byte) when measured: at once for the next picks (a `max_latency_ms` filter
        sees it), in the database at the next flush (the proxy's `avg_latency_ms`, a moving
        average as the checker keeps it). Cheap; never waits."""
        now = self._now()
        hour = hour_of(now)
        key = (proxy_id, hour)
        outcomes = self._pending.get(key)
        if outcomes is None:
            outcomes = self._pending[key] = Outcomes(proxy_id, hour)
        outcomes.add(ok, latency_ms)
        self._land(proxy_id, hour)
        live = self._live.get(proxy_id)
        if live is None:
            return
        if live.hour != hour:
            self._live[proxy_id] = live = Live(hour, errors=live.errors,
                                               cooling_until=live.cooling_until,
                                               latency_ms=live.latency_ms)
        self._apply(live, ok, now)
        if latency_ms is not None:
            live.latency_ms = smoothed_latency(live.latency_ms, latency_ms)

    def release(self, proxy_id: uuid.UUID) -> None:
        """A pick given back unused (the caller turned its work away before it reached the
        proxy: an Instagram action over its quota, or done already): it no longer counts
        against the proxy's hourly budget. Cheap; never waits."""
        hour = hour_of(self._now())
        if self._land(proxy_id, hour) != hour:
            return  # made in the hour before: that budget is spent and gone
        live = self._live.get(proxy_id)
        if live is not None and live.hour == hour and live.used > 0:
            live.used -= 1

    def _land(self, proxy_id: uuid.UUID, hour: int) -> int | None:
        """One pick of the proxy answered: of this hour, else of the hour before (a tunnel
        that outlived the hour it was opened in). Answers the hour it was made in, None if
        no pick was in flight."""
        for key in ((proxy_id, hour), (proxy_id, hour - 1)):
            flying = self._in_flight.get(key, 0)
            if flying > 1:
                self._in_flight[key] = flying - 1
                return key[1]
            if flying:
                del self._in_flight[key]
                return key[1]
        return None

    async def record_durably(self, proxy_id: uuid.UUID, ok: bool) -> None:
        """`record`, then wait until the outcome is stored."""
        self.record(proxy_id, ok)
        await self.flush()

    # -- settings ----------------------------------------------------------------------

    @property
    def current_settings(self) -> RotationSettings:
        """The settings as of the last snapshot (what picks follow)."""
        return self._settings

    async def settings(self) -> RotationSettings:
        async with self._db.reading() as uow:
            stored = await uow.rotation.load_settings()
        return stored or RotationSettings()

    async def change_settings(self, **changes: Any) -> RotationSettings:
        """Store new settings (the fields given replace the stored ones) for every process."""
        async with self._db.writing() as uow:
            stored = await uow.rotation.load_settings() or RotationSettings()
            updated = replace(stored, **changes)
            await uow.rotation.save_settings(updated, self._now())
            await uow.commit()
        await self.refresh()
        return updated

    # -- seed 000's integer ids --------------------------------------------------------

    async def number_of(self, proxy_id: uuid.UUID) -> int | None:
        """The proxy's seed-000 id, given now if it had none (None: no such proxy)."""
        async with self._db.writing() as uow:
            number = await uow.rotation.number_of(proxy_id)
            await uow.commit()
        return number

    # -- the background ----------------------------------------------------------------

    async def refresh(self) -> None:
        """Reload the snapshot and the settings. Holds the flush lock, so what it reads
        and what is still pending never overlap."""
        started = self._monotonic()
        async with self._lock:
            async with self._db.reading() as uow:
                candidates = await uow.rotation.candidates(self._memo)
                settings = await uow.rotation.load_settings() or RotationSettings()
            self._install(candidates, settings, await self._scores_of(candidates, settings))
        self._next_reload = started + RELOAD_SPACING * (self._monotonic() - started)

    @property
    def remade(self) -> int:
        """Candidates the last reload made anew; the rest it kept from the one before."""
        return self._memo.made

    async def flush(self) -> None:
        """Store the pending outcomes. On failure they stay pending and the error is raised.
        When it returns, every outcome recorded before it was called is stored."""
        async with self._lock:
            batch, self._pending = self._pending, {}
            if not batch:
                return
            try:
                async with self._db.writing() as uow:
                    await uow.rotation.record(list(batch.values()), self._settings,
                                              self._now(), LATENCY_SMOOTHING)
                    await uow.commit()
            except BaseException:
                self._restore(batch)
                raise
        await self._share_hours(batch)

    async def refresh_quietly(self) -> None:
        """`refresh` for the background loop, unless the last reload was too recent for
        its cost (RELOAD_SPACING); while the database is down, one line per round instead
        of a traceback (which costs the event loop more than the round)."""
        if self._monotonic() < self._next_reload:
            return
        await _quietly(self.refresh(), "rotation snapshot not refreshed")

    async def flush_quietly(self) -> None:
        """`flush` for the background loop; the outcomes stay pending while the database
        is down."""
        await _quietly(self.flush(), "rotation counters not stored yet")

    def _restore(self, batch: dict[tuple[uuid.UUID, int], Outcomes]) -> None:
        later, self._pending = self._pending, batch
        for key, outcomes in later.items():
            if key in self._pending:
                self._pending[key].merge(outcomes)
            else:
                self._pending[key] = outcomes

    async def _share_hours(self, batch: dict[tuple[uuid.UUID, int], Outcomes]) -> None:
        if self._hours is None:
            return
        counts = {f"{hour}:{proxy_id}": o.total for (proxy_id, hour), o in batch.items()}
        try:
            totals = await self._hours.add(counts, REDIS_HOUR_TTL_SECONDS)
        except (OSError, TimeoutError) as error:
            log.warning("shared hourly counts unavailable", error=str(error))
            return
        current = hour_of(self._now())
        for name, total in totals.items():
            hour_text, _, proxy_text = name.partition(":")
            live = self._live.get(uuid.UUID(proxy_text))
            if live is not None and int(hour_text) == current == live.hour:
                live.used = max(live.used, total + self._pending_total(live, proxy_text))

    def _pending_total(self, live: Live, proxy_text: str) -> int:
        pending = self._pending.get((uuid.UUID(proxy_text), live.hour))
        return pending.total if pending else 0

    # -- inner workings ----------------------------------------------------------------

    async def _scores_of(self, candidates: list[Candidate], settings: RotationSettings,
                         ) -> dict[uuid.UUID, float]:
        """Each candidate's score: kept from the last reload for a candidate kept from it
        under the same settings, else worked out, a slice at a time with the loop let run
        between slices (only a reload, under the lock, changes what this reads)."""
        kept = self._candidates if settings == self._settings else {}
        before = self._scores
        scores: dict[uuid.UUID, float] = {}
        for count, candidate in enumerate(candidates, 1):
            if count % ROWS_PER_TURN == 0:
                await asyncio.sleep(0)
            proxy_id = candidate.proxy_id
            known = before.get(proxy_id) if kept.get(proxy_id) is candidate else None
            scores[proxy_id] = score(candidate, settings) if known is None else known
        return scores

    def _install(self, candidates: list[Candidate], settings: RotationSettings,
                 scores: dict[uuid.UUID, float]) -> None:
        now = self._now()
        hour = hour_of(now)
        live: dict[uuid.UUID, Live] = {}
        for candidate in candidates:
            state = Live(hour,
                         used=candidate.requests_this_hour
                         if candidate.requests_hour == hour else 0,
                         errors=candidate.error_count,
                         cooling_until=candidate.cooling_until,
                         latency_ms=candidate.avg_latency_ms)
            previous = self._live.get(candidate.proxy_id)
            if previous is not None:
                state.probation_until = previous.probation_until
            state.used += self._in_flight.get((candidate.proxy_id, hour), 0)
            live[candidate.proxy_id] = state
        for (proxy_id, pending_hour), outcomes in self._pending.items():
            pending_to = live.get(proxy_id)
            if pending_to is not None:
                self._apply_pending(pending_to, outcomes, pending_hour == hour, settings, now)
        self._in_flight = {key: n for key, n in self._in_flight.items() if key[1] >= hour - 1}
        self._settings = settings
        self._candidates = {c.proxy_id: c for c in candidates}
        self._scores = scores
        self._live = live
        self._groups = {}
        self.loaded = True

    def _apply_pending(self, live: Live, outcomes: Outcomes, this_hour: bool,
                       settings: RotationSettings, now: datetime) -> None:
        if this_hour:
            live.used += outcomes.total
        if outcomes.latency_ms is not None:
            live.latency_ms = smoothed_latency(live.latency_ms, outcomes.latency_ms)
        live.errors = outcomes.tail if outcomes.reset else live.errors + outcomes.tail
        if live.errors >= settings.error_threshold and outcomes.tail:
            live.cooling_until = now + _seconds(settings.cooloff_seconds)
        elif live.errors < settings.error_threshold:
            live.cooling_until = None

    def _apply(self, live: Live, ok: bool, now: datetime) -> None:
        settings = self._settings
        live.probation_until = 0.0
        if ok:
            live.errors, live.cooling_until = 0, None
            return
        live.errors += 1
        if live.errors >= settings.error_threshold:
            live.cooling_until = now + _seconds(settings.cooloff_seconds)

    def _live_of(self, candidate: Candidate, hour: int) -> Live:
        live = self._live.get(candidate.proxy_id)
        if live is None:
            live = self._live[candidate.proxy_id] = Live(hour)
        elif live.hour != hour:  # the clock hour turned: a new budget
            live = self._live[candidate.proxy_id] = Live(
                hour, errors=live.errors, cooling_until=live.cooling_until,
                probation_until=live.probation_until, latency_ms=live.latency_ms)
        return live

    def _group(self, wanted: ProxyFilter, include_private: bool,
               owner: uuid.UUID | None) -> Group:
        key = (wanted, include_private, owner)
        group = self._groups.get(key)
        if group is None:
            if len(self._groups) >= GROUPS:
                self._groups.clear()
            probe = Want(filter=wanted, include_private=include_private, owner=owner)
            members = [c for c in self._candidates.values() if admissible(c, probe)]
            group = self._groups[key] = Group.of(
                members, lambda c: self._scores.get(c.proxy_id, 0.0))
        return group

    def _pick_of(self, candidate: Candidate) -> Pick:
        address = candidate.address
        if address.password is not None:  # stored sealed; opened when handed out
            address = replace(address, password=self._open(address.password))
        return Pick(candidate.proxy_id, candidate.number, address,
                    self._scores.get(candidate.proxy_id, 0.0), candidate.country,
                    candidate.anonymity, candidate.shared)

    def _open(self, token: str) -> str:
        # Opening costs a Fernet decryption; the snapshot is reloaded every few seconds.
        plain = self._opened.get(token)
        if plain is None:
            if len(self._opened) >= 100_000:
                self._opened.clear()
            plain = self._opened[token] = self._db.box.open(token)
        return plain

    def counters(self, proxy_id: uuid.UUID) -> ManagedProxy | None:
        """A handed-out proxy as seed 000 shows it, from the snapshot and what this process
        counted since (no database round trip); None if it is not in the snapshot or has no
        seed-000 id yet."""
        candidate = self._candidates.get(proxy_id)
        if candidate is None or candidate.number is None or candidate.created_at is None:
            return None
        now = self._now()
        hour = hour_of(now)
        live = self._live_of(candidate, hour)
        this_hour = candidate.requests_this_hour if candidate.requests_hour == hour else 0
        return ManagedProxy(
            number=candidate.number, proxy_id=proxy_id, address=candidate.address,
            shared=candidate.shared, is_active=True, total_requests=candidate.total_requests,
            failed_requests=candidate.failed_requests, requests_this_hour=this_hour,
            error_count=live.errors, created_at=candidate.created_at,
            updated_at=candidate.updated_at or candidate.created_at,
            hourly_budget=candidate.hourly_budget)

    def strategy_for(self, want: Want) -> Strategy:
        return want.effective_strategy or self._settings.strategy


async def _quietly(job: Coroutine[Any, Any, None], message: str) -> None:
    try:
        await job
    except Exception as error:
        if not is_database_failure(error):
            raise
        log.warning(message, error=f"{type(error).__name__}: {str(error)[:200]}")


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)
