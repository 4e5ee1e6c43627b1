"""Waiting for queued tasks in tests: run in this process by the in-memory broker, or taken
from the Redis stream and acknowledged (taskiq acknowledges an entry once its task has run)."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from taskiq import AsyncTaskiqTask

from proxyfleet import bootstrap
from proxyfleet.jobs.queue import CONSUMER_GROUP


async def until_drained(client: aioredis.Redis, stream: str) -> None:
    """Until the group has read every entry of the stream and acknowledged it."""
    for _ in range(300):
        groups = await client.xinfo_groups(stream)
        group = next(g for g in groups if g["name"] in (CONSUMER_GROUP, CONSUMER_GROUP.encode()))
        if group["pending"] == 0 and group["lag"] == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the consumers did not run the entries")


async def until_run(container: bootstrap.Container, task: AsyncTaskiqTask[Any]) -> None:
    """Until `task`, queued through the container's queue, has run (with Redis, a consumer
    must be reading the stream)."""
    if not container.queue.distributed:
        await task.wait_result(timeout=60)
        return
    client = aioredis.Redis.from_url(container.settings.redis_url or "")
    try:
        await until_drained(client, f"{container.settings.redis_prefix}tasks")
    finally:
        await client.aclose()
