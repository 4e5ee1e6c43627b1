"""The task queue (taskiq): where scrapes and check batches run.

Embedded (no Redis): an in-memory broker runs each task in this process as it is sent.
With Redis: a Redis Streams broker; `proxyfleet serve` and every `proxyfleet worker` consume
the stream as one consumer group, so each task runs once, somewhere.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import structlog
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


def build_broker(redis_url: str | None, stream: str) -> AsyncBroker:
    if redis_url is None:
        return InMemoryBroker(max_async_tasks=TASKS_PER_PROCESS)
    return RedisStreamBroker(redis_url, queue_name=stream, consumer_group_name=CONSUMER_GROUP,
                             consumer_id="0", xread_block=1000,
                             # Read a few entries at a time, so idle workers get their share.
                             xread_count=TASKS_PER_PROCESS,
                             unacknowledged_lock_timeout=300)


class TaskQueue:
    def __init__(self, broker: AsyncBroker, sources: SourcesService,
                 checking: CheckingService) -> None:
        self.broker = broker
        self._sources = sources
        self._checking = checking

        # taskiq renames what it registers, so it takes a plain function, not a bound method.
        async def scrape_source(source_id: str) -> None:
            await self._scrape_source(source_id)

        self._scrape = broker.register_task(scrape_source, task_name=SCRAPE_TASK)

        async def check_proxies(proxy_ids: list[str]) -> None:
            await self._checking.check([uuid.UUID(i) for i in proxy_ids])

        self._check = broker.register_task(check_proxies, task_name=CHECK_TASK)

    @property
    def distributed(self) -> bool:
        return not isinstance(self.broker, InMemoryBroker)

    async def _scrape_source(self, source_id: str) -> None:
        try:
            await self._sources.scrape(uuid.UUID(source_id))
        except DomainError as error:  # recorded on the source by scrape(); nothing to retry
            log.info("scheduled scrape failed", source_id=source_id, error=error.message)

    async def enqueue_scrape(self, source_id: uuid.UUID) -> AsyncTaskiqTask[Any]:
        return await self._scrape.kiq(str(source_id))

    async def enqueue_check(self, proxy_ids: list[uuid.UUID]) -> AsyncTaskiqTask[Any]:
        return await self._check.kiq([str(i) for i in proxy_ids])

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
        await self.broker.shutdown()


async def schedule_due_sources(sources: SourcesService, queue: TaskQueue) -> int:
    """One scheduler tick: claim every due source run and hand it to the queue."""
    claimed = await sources.claim_due()
    for source in claimed:
        await queue.enqueue_scrape(source.id)
    return len(claimed)


async def schedule_due_checks(checking: CheckingService, queue: TaskQueue) -> int:
    """One checker tick: claim due proxies batch by batch and hand each batch to the queue.
    A claimed proxy is in exactly one batch, so no two workers check it in the same round."""
    claimed = 0
    for _ in range(MAX_BATCHES_PER_TICK):
        batch = await checking.claim_due()
        if not batch:
            break
        await queue.enqueue_check(batch)
        claimed += len(batch)
    return claimed
