"""The outbox worker: fans new events out to the notifiers subscribed to them, then claims
due deliveries and sends them, in whichever process is free.

At least once: a claim lasts `claim_seconds`; a process killed while it holds one leaves it to
lapse, and the next claimer sends again (webhook receivers de-duplicate on the event id).
Once per notifier: one delivery row per (event, notifier), claimed by one process at a time.
A failed send is tried again after a back-off and marks its notifier unhealthy; deliveries
to other notifiers go on beside it, each send under its own timeout. Sends are pipelined, not
sent batch after batch: at most `batch_size` are in flight, a free place is claimed again
without waiting for the slowest send, and a notifier with half the places taken gets no more
until some of its sends end, so a hung notifier never holds up the others' deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from proxyfleet.core.clock import utcnow
from proxyfleet.core.notifiers import Delivery, DeliveryOutcome
from proxyfleet.notify.rules import Backoff, subscribed
from proxyfleet.notify.service import NotifiersService, send_once
from proxyfleet.storage.uow import Database

log = structlog.get_logger(__name__)

# Outcomes recorded at once per process: each holds a database connection.
RECORDERS = 2
# The outbox is swept of old events this often at most (a full scan of the delivered ones).
PURGE_EVERY_SECONDS = 600.0
# While sends are in flight and nothing else is due, the outbox is looked at again this often.
RECHECK_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    batch_size: int
    claim: timedelta
    backoff: Backoff
    # How long an event is kept once every delivery of it is done (None: for ever).
    keep: timedelta | None = None


class DeliveryWorker:
    def __init__(self, database: Database, notifiers: NotifiersService,
                 policy: DeliveryPolicy, *, clock: Callable[[], datetime] = utcnow,
                 observe: Callable[[DeliveryOutcome], None] | None = None) -> None:
        self._db = database
        self._notifiers = notifiers
        self._policy = policy
        self._now = clock
        self._observe = observe
        self._recorders = asyncio.Semaphore(RECORDERS)
        self._next_purge = 0.0

    async def run_once(self) -> int:
        """Fan out what is new, then send what is due until nothing is left; returns the
        deliveries this process attempted."""
        while await self.fan_out():
            pass
        if self._policy.keep is not None and time.monotonic() >= self._next_purge:
            self._next_purge = time.monotonic() + PURGE_EVERY_SECONDS
            await self.purge()
        return await self.deliver_due()

    async def purge(self) -> int:
        """Forget delivered events older than the policy keeps them."""
        assert self._policy.keep is not None
        async with self._db.writing() as uow:
            forgotten = await uow.outbox.purge(self._now() - self._policy.keep)
            await uow.commit()
        return forgotten

    async def fan_out(self) -> int:
        """One pending delivery per subscribed, enabled notifier for a batch of new events."""
        async with self._db.writing() as uow:
            events = await uow.outbox.unfanned(self._policy.batch_size)
            if not events:
                return 0
            subscriptions = await uow.outbox.subscriptions()
            pairs = [(event_id, notifier_id) for event_id, name in events
                     for notifier_id, patterns in subscriptions if subscribed(patterns, name)]
            await uow.outbox.fan_out(pairs, [event_id for event_id, _ in events], self._now())
            await uow.commit()
        return len(events)

    async def deliver_due(self) -> int:
        """Claim due deliveries and send them, keeping up to `batch_size` sends in flight,
        until nothing is due and every send has ended; returns how many were claimed. A
        retry that falls due meanwhile waits for the next pass, so a pass ends even while a
        notifier keeps hanging."""
        places = _Places(self._policy.batch_size, self._now())
        async with asyncio.TaskGroup() as sending:
            while True:
                wanted = places.free
                claimed = await self._claim(places) if wanted else []
                for delivery in claimed:
                    places.take(delivery.notifier.id)
                    sending.create_task(self._deliver_in(places, delivery))
                if wanted and len(claimed) < wanted:  # nothing more is due now
                    if await self.fan_out():  # events new since the last look
                        continue
                    if not places.taken:
                        break
                await places.freed()
        return places.claimed

    async def _claim(self, places: _Places) -> list[Delivery]:
        now = self._now()
        async with self._db.writing() as uow:
            claimed = await uow.outbox.claim(now, now + self._policy.claim, places.free,
                                             skip=places.busy(),
                                             retries_due_by=places.started)
            await uow.commit()
        return claimed

    async def _deliver_in(self, places: _Places, delivery: Delivery) -> None:
        try:
            await self._deliver(delivery)
        finally:
            places.release(delivery.notifier.id)

    async def _deliver(self, delivery: Delivery) -> None:
        # Each outcome is recorded as soon as it is known, so a slow notifier does not keep
        # the others' deliveries waiting for their record.
        outcome = await self._send(delivery)
        await self._record(outcome)
        if self._observe is not None:
            self._observe(outcome)
        if not outcome.succeeded:
            log.warning("event delivery failed", notifier=str(delivery.notifier.id),
                        event_name=delivery.event.name.value, attempts=delivery.attempts,
                        error=outcome.error)

    async def _send(self, delivery: Delivery) -> DeliveryOutcome:
        try:
            notifier = self._notifiers.build(delivery.notifier)
        # A notifier whose plugin is gone or whose stored settings no longer validate.
        except Exception as broken:
            return DeliveryOutcome(delivery, f"cannot build notifier: {broken}", self._now())
        return DeliveryOutcome(delivery, await send_once(notifier, delivery.event), self._now())

    async def _record(self, outcome: DeliveryOutcome) -> None:
        backoff = self._policy.backoff
        attempts = outcome.delivery.attempts
        retry_at = None if backoff.gives_up(attempts) else outcome.at + backoff.delay(attempts)
        async with self._recorders, self._db.writing() as uow:
            if await uow.outbox.record(outcome, retry_at):
                await uow.notifiers.record_health(outcome.delivery.notifier.id,
                                                  outcome.error, outcome.at)
            await uow.commit()


class _Places:
    """The sends one `deliver_due` has in flight, in all and per notifier."""

    def __init__(self, size: int, started: datetime) -> None:
        self._size = size
        self.started = started
        self._per_notifier: dict[uuid.UUID, int] = {}
        self._changed = asyncio.Event()
        self.taken = 0
        self.claimed = 0

    @property
    def free(self) -> int:
        return self._size - self.taken

    def busy(self) -> set[uuid.UUID]:
        """Notifiers holding half the places (at least one): they get no more for now."""
        half = max(1, self._size // 2)
        return {notifier for notifier, held in self._per_notifier.items() if held >= half}

    def take(self, notifier: uuid.UUID) -> None:
        self._per_notifier[notifier] = self._per_notifier.get(notifier, 0) + 1
        self.taken += 1
        self.claimed += 1

    def release(self, notifier: uuid.UUID) -> None:
        held = self._per_notifier[notifier] - 1
        if held:
            self._per_notifier[notifier] = held
        else:
            del self._per_notifier[notifier]
        self.taken -= 1
        self._changed.set()

    async def freed(self) -> None:
        """Until a send ends (at once if one ended since the last call), or
        `RECHECK_SECONDS` pass (something may have become due meanwhile)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(RECHECK_SECONDS):
                await self._changed.wait()
        self._changed.clear()
