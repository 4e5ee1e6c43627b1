"""The task queue (taskiq): where scrapes and check batches run.

Embedded (no Redis): an in-memory broker runs each task in this process as it is sent.
With Redis: a Redis Streams broker; `proxyfleet serve` and every `proxyfleet worker` consume
the stream as one consumer group, so each task runs once, somewhere.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from taskiq import AsyncBroker, AsyncTaskiqTask, InMemoryBroker
from taskiq.receiver import Receiver
from taskiq_redis import RedisStreamBroker

from proxyfleet.core.errors import DomainError
from proxyfleet.pool.checking import CheckingService
from proxyfleet.pool.sources import SourcesService

log = structlog.get_logger(__name__)

SCRAPE_TASK = "proxyfleet.scrape_source"
CHECK_TASK = "proxyfleet.check_proxies"
# Batches one scheduler tick may hand out; the rest stay due for the next tick.
MAX_BATCHES_PER_TICK = 20
CONSUMER_GROUP = "proxyfleet"
# Tasks one process runs at once; scrapes are I/O-bound but each may hold a large list.
TASKS_PER_PROCESS = 8


# A consumer that has read nothing this long and holds no entry belongs to a process gone.
STALE_CONSUMER_MS = 15 * 60 * 1000


def build_broker(redis_url: str | None, stream: str, *,
                 redelivery_seconds: float = 600.0) -> AsyncBroker:
    """`redelivery_seconds`: how long an entry a consumer took may go unacknowledged before
    another consumer is handed it (the consumer's process was killed): the check claim's hold,
    so a batch is re-delivered when its claim has lapsed, not long after."""
    if redis_url is None:
        return InMemoryBroker(max_async_tasks=TASKS_PER_PROCESS)
    return RedisStreamBroker(redis_url, queue_name=stream, consumer_group_name=CONSUMER_GROUP,
                             consumer_id="0", xread_block=1000,
                             # Read a few entries at a time, so idle workers get their share.
                             xread_count=TASKS_PER_PROCESS,
                             idle_timeout=int(redelivery_seconds * 1000),
                             unacknowledged_lock_timeout=300)


class TaskQueue:
    def __init__(self, broker: AsyncBroker, sources: SourcesService,
                 checking: CheckingService) -> None:
        self.broker = broker
        self._sources = sources
        self._checking = checking

        # taskiq renames what it registers, so it takes a plain function, not a bound method.
        async def scrape_source(source_id: str, slot: str | None = None) -> None:
            await self._scrape_source(source_id, datetime.fromisoformat(slot) if slot else None)

        self._scrape = broker.register_task(scrape_source, task_name=SCRAPE_TASK)

        async def check_proxies(proxy_ids: list[str], claim: str | None = None) -> None:
            held = datetime.fromisoformat(claim) if claim else None
            await self._checking.check([uuid.UUID(i) for i in proxy_ids], held)

        self._check = broker.register_task(check_proxies, task_name=CHECK_TASK)

    @property
    def distributed(self) -> bool:
        return not isinstance(self.broker, InMemoryBroker)

    async def _scrape_source(self, source_id: str, slot: datetime | None) -> None:
        try:
            if slot is None:
                await self._sources.scrape(uuid.UUID(source_id))
            else:
                await self._sources.scrape_slot(uuid.UUID(source_id), slot)
        except DomainError as error:  # recorded on the source by scrape(); nothing to retry
            log.info("scheduled scrape failed", source_id=source_id, error=error.message)

    async def enqueue_scrape(self, source_id: uuid.UUID,
                             slot: datetime | None = None) -> AsyncTaskiqTask[Any]:
        """Queue a scrape; `slot` (the cron slot claimed) makes a second delivery harmless."""
        return await self._scrape.kiq(str(source_id), slot.isoformat() if slot else None)

    async def enqueue_check(self, proxy_ids: list[uuid.UUID],
                            claim: datetime | None = None) -> AsyncTaskiqTask[Any]:
        """Queue a batch; `claim` (its hold time) makes a second delivery of it harmless."""
        return await self._check.kiq([str(i) for i in proxy_ids],
                                     claim.isoformat() if claim else None)

    async def start(self) -> None:
        await self.broker.startup()

    async def consume(self, finished: asyncio.Event) -> None:
        """Run tasks from the shared stream until `finished` is set (Redis only)."""
        if not self.distributed:
            return
        receiver = Receiver(self.broker, max_async_tasks=TASKS_PER_PROCESS, run_startup=False,
                            propagate_exceptions=False)
        await receiver.listen(finished)

    async def close(self) -> None:
        if isinstance(self.broker, RedisStreamBroker):
            try:
                await self._leave_group(self.broker)
            except (RedisError, OSError) as error:  # Redis gone: the next tidy removes it
                log.warning("could not leave the consumer group", error=str(error))
        await self.broker.shutdown()

    @staticmethod
    async def _leave_group(broker: RedisStreamBroker) -> None:
        """Remove this process's consumer from the group, unless it still holds entries
        (those wait for re-delivery to another consumer)."""
        async with Redis(connection_pool=broker.connection_pool) as redis:
            for consumer in await redis.xinfo_consumers(broker.queue_name, CONSUMER_GROUP):
                if _text(consumer["name"]) == broker.consumer_name and not consumer["pending"]:
                    await redis.xgroup_delconsumer(broker.queue_name, CONSUMER_GROUP,
                                                   broker.consumer_name)

    async def tidy(self) -> int:
        """Trim the stream of acknowledged entries and drop consumers of processes gone;
        returns the entries trimmed (Redis only)."""
        if not isinstance(self.broker, RedisStreamBroker):
            return 0
        stream = self.broker.queue_name
        async with Redis(connection_pool=self.broker.connection_pool) as redis:
            for consumer in await redis.xinfo_consumers(stream, CONSUMER_GROUP):
                if not consumer["pending"] and consumer["idle"] > STALE_CONSUMER_MS:
                    await redis.xgroup_delconsumer(stream, CONSUMER_GROUP, consumer["name"])
            oldest = await _oldest_unacknowledged(redis, stream)
            return int(await redis.xtrim(stream, minid=oldest, approximate=False))


async def schedule_due_sources(sources: SourcesService, queue: TaskQueue) -> int:
    """One scheduler tick: claim every due source run and hand it to the queue."""
    claimed = await sources.claim_due_runs()
    for source, slot in claimed:
        await queue.enqueue_scrape(source.id, slot)
    return len(claimed)


async def schedule_due_checks(checking: CheckingService, queue: TaskQueue) -> int:
    """One checker tick: claim due proxies batch by batch and hand each batch to the queue.
    A claimed proxy is in exactly one batch, so no two workers check it in the same round."""
    claimed = 0
    for _ in range(MAX_BATCHES_PER_TICK):
        batch = await checking.claim_batch()
        if not batch.ids:
            break
        await queue.enqueue_check(batch.ids, batch.hold_until)
        claimed += len(batch.ids)
    return claimed


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def _oldest_unacknowledged(redis: Redis, stream: str) -> str:
    """The id of the first entry the group still needs: the oldest delivered but not
    acknowledged, else the first not yet delivered. Everything before it is done."""
    pending = await redis.xpending(stream, CONSUMER_GROUP)
    if pending["pending"]:
        return _text(pending["min"])
    groups = {_text(g["name"]): g for g in await redis.xinfo_groups(stream)}
    last = _text(groups[CONSUMER_GROUP]["last-delivered-id"])
    milliseconds, _, sequence = last.partition("-")
    return f"{milliseconds}-{int(sequence or 0) + 1}"
