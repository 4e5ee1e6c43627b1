"""Counts shared by every process through Redis: the rotation's requests per proxy per hour."""

from __future__ import annotations

import redis.asyncio as aioredis


class RedisHourCounter:
    """INCRBY per name under a prefix, with an expiry; the new totals come back."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    async def add(self, counts: dict[str, int], ttl_seconds: int) -> dict[str, int]:
        names = list(counts)
        pipeline = self._client.pipeline(transaction=False)
        for name in names:
            pipeline.incrby(self._prefix + name, counts[name])
            pipeline.expire(self._prefix + name, ttl_seconds)
        try:
            results = await pipeline.execute()
        except aioredis.RedisError as error:
            raise OSError(str(error)) from error
        return {name: int(results[2 * index]) for index, name in enumerate(names)}
