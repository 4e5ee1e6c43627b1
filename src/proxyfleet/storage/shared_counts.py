"""Counts shared by every process through Redis: the rotation's requests per proxy per hour,
and the per-user limits (`core.limits`) of the gateway and of `POST /proxies/test`."""

from __future__ import annotations

import asyncio
import itertools
import math
import time
import uuid
from collections.abc import Coroutine
from typing import Any

import redis.asyncio as aioredis
import structlog

from proxyfleet.core.limits import HELD_HERE, Admission, Caps, MemoryLimiter, Refusal

log = structlog.get_logger(__name__)


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


# KEYS: the user's held places (a sorted set: lease -> when it lapses, ms) and rate bucket (a
# hash: units left, when counted). ARGV: at-once cap, per-minute rate, units, the lease to
# hold ('' for none), lease ms. Time is Redis' own, so every process counts on one clock.
# Returns {0, 0} when admitted, else {1 (at once) or 2 (rate), ms to wait}.
_ADMIT = """
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
local cap, rate, units = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local lease, lease_ms = ARGV[4], tonumber(ARGV[5])
if lease ~= '' then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  if redis.call('ZCARD', KEYS[1]) >= cap then return {1, 1000} end
end
if units > 0 then
  local bucket = redis.call('HMGET', KEYS[2], 'left', 'at')
  local left = tonumber(bucket[1]) or rate
  local at = tonumber(bucket[2]) or now
  left = math.min(rate, left + math.max(0, now - at) * rate / 60000)
  if units > left then
    return {2, math.max(1, math.ceil((math.min(units, rate) - left) * 60000 / rate))}
  end
  redis.call('HSET', KEYS[2], 'left', tostring(left - units), 'at', now)
  redis.call('PEXPIRE', KEYS[2], 60000)
end
if lease ~= '' then
  redis.call('ZADD', KEYS[1], now + lease_ms, lease)
  redis.call('PEXPIRE', KEYS[1], lease_ms)
end
return {0, 0}
"""

# KEYS[1]: a user's held places; ARGV: lease ms, then the leases this process still holds.
_RENEW = """
local clock = redis.call('TIME')
local until_ms = clock[1] * 1000 + math.floor(clock[2] / 1000) + tonumber(ARGV[1])
for index = 2, #ARGV do redis.call('ZADD', KEYS[1], until_ms, ARGV[index]) end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
return 0
"""

_REFUSALS = {1: Refusal.AT_ONCE, 2: Refusal.RATE}
_REDIS_DOWN = (aioredis.RedisError, OSError, TimeoutError)


class RedisLimiter:
    """`core.limits.Limiter` shared by every process using the same Redis and prefix. Each
    admission is one script run (atomic). A held place is a lease that lapses after
    `lease_seconds` unless renewed: `run()` renews this process's every third of that, so
    the places of a process that dies free themselves. While Redis cannot be reached,
    admissions are counted in the process, as `MemoryLimiter` does."""

    def __init__(self, client: aioredis.Redis, prefix: str, caps: Caps, *,
                 lease_seconds: float = 30.0, timeout_seconds: float = 2.0) -> None:
        self.caps = caps
        self._prefix = prefix
        self._admit = client.register_script(_ADMIT)
        self._renew = client.register_script(_RENEW)
        self._client = client
        self._lease_ms = int(lease_seconds * 1000)
        self._timeout = timeout_seconds
        self._local = MemoryLimiter(caps)
        self._names = (f"{uuid.uuid4().hex[:12]}:{n}" for n in itertools.count())
        self._held: dict[str, str] = {}  # lease -> its key
        self._released: list[tuple[str, str]] = []
        self._wake = asyncio.Event()
        self._warned_at = -math.inf

    async def admit(self, user: uuid.UUID, units: int = 1, *, hold: bool = True) -> Admission:
        caps = self.caps
        hold = hold and caps.at_once > 0
        units = units if caps.per_minute else 0
        if not (hold or units):
            return Admission(user)
        lease = next(self._names) if hold else ""
        held = f"{self._prefix}held:{user.hex}"
        if hold:
            self._held[lease] = held
        try:
            async with asyncio.timeout(self._timeout):
                code, wait_ms = await self._admit(
                    keys=[held, f"{self._prefix}rate:{user.hex}"],
                    args=[caps.at_once, caps.per_minute, units, lease, self._lease_ms])
        except BaseException as error:
            if hold:  # the script may have run: give the place back
                self._release(lease)
            if not isinstance(error, _REDIS_DOWN):
                raise
            self._warn(error)
            return self._local.admit_now(user, units, hold=hold)
        if code:
            self._held.pop(lease, None)
            return Admission(user, _REFUSALS[int(code)], int(wait_ms) / 1000)
        return Admission(user, lease=lease or None)

    def release(self, admission: Admission) -> None:
        if admission.lease == HELD_HERE:
            self._local.release(admission)
        elif admission.lease is not None:
            self._release(admission.lease)

    def _release(self, lease: str) -> None:
        held = self._held.pop(lease, None)
        if held is not None:
            self._released.append((held, lease))
            self._wake.set()

    async def run(self) -> None:
        """Give back released places as they come, renew the held ones every third of a
        lease; on leaving, give back every place still held."""
        every = self._lease_ms / 3000
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        renew_at = time.monotonic() + every
        try:
            # Stopped by cancellation, even one lost inside a Redis call on its way out (a
            # gateway's close hung on it in PostgreSQL + Redis test runs).
            while task is None or not task.cancelling():
                # A timer, not a timeout around the wait: nothing here may swallow the
                # cancellation that stops it.
                alarm = loop.call_later(max(0.0, renew_at - time.monotonic()), self._wake.set)
                try:
                    await self._wake.wait()
                finally:
                    alarm.cancel()
                self._wake.clear()
                await self._quietly(self._give_back())
                if time.monotonic() >= renew_at:
                    renew_at = time.monotonic() + every
                    await self._quietly(self._renew_held())
        finally:
            for lease in list(self._held):
                self._release(lease)
            await self._quietly(self._give_back())

    async def _give_back(self) -> None:
        released, self._released = self._released, []
        if not released:
            return
        pipeline = self._client.pipeline(transaction=False)
        for held, lease in released:
            pipeline.zrem(held, lease)
        try:
            await pipeline.execute()
        except BaseException:
            self._released[:0] = released
            raise

    async def _renew_held(self) -> None:
        by_key: dict[str, list[str]] = {}
        for lease, held in self._held.items():
            by_key.setdefault(held, []).append(lease)
        pipeline = self._client.pipeline(transaction=False)
        for held, leases in by_key.items():
            await self._renew(keys=[held], args=[self._lease_ms, *leases], client=pipeline)
        await pipeline.execute()

    async def _quietly(self, job: Coroutine[Any, Any, None]) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await job
        except _REDIS_DOWN as error:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError from error  # stopping: not Redis' failure
            self._warn(error)

    def _warn(self, error: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned_at >= 60:
            self._warned_at = now
            log.warning("shared limits: Redis unreachable, counting in this process",
                        error=f"{type(error).__name__}: {error}")
