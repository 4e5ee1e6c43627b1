"""Several processes: a check batch carries its claim, so a batch delivered twice (a worker
killed, its stream entry handed to another) checks and records nothing the second time;
every round is counted in checks_total / checks_passed; with Redis, the task stream is trimmed
of acknowledged entries and consumers of processes gone are removed."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select

from proxyfleet import bootstrap
from proxyfleet.core.proxies import ProxyOrigin
from proxyfleet.jobs import queue as queue_module
from proxyfleet.jobs.queue import CONSUMER_GROUP, TaskQueue, build_broker
from proxyfleet.sim.farm import Behaviour, Farm
from proxyfleet.storage.tables import ProxyCheckRow, ProxyRow

pytestmark = pytest.mark.slow


async def _counts(container: bootstrap.Container) -> tuple[int, list[tuple[int, int]]]:
    async with container.database.engines.reader.connect() as conn:
        records = (await conn.execute(select(func.count()).select_from(ProxyCheckRow)))
        counters = await conn.execute(select(ProxyRow.checks_total, ProxyRow.checks_passed)
                                      .order_by(ProxyRow.host))
        return int(records.scalar_one()), [(t, p) for t, p in counters]


async def test_a_batch_delivered_twice_is_checked_once(live: bootstrap.Container,
                                                       farm: Farm) -> None:
    good = [a for a, t in farm.proxies if t.behaviour is Behaviour.ELITE]
    dead = [a for a, t in farm.proxies if t.behaviour is Behaviour.DEAD]
    await live.inventory.add(good + dead, ProxyOrigin.MANUAL)
    batch = await live.checking.claim_batch()
    assert len(batch.ids) == len(good + dead)

    first = await live.checking.check(batch.ids, batch.hold_until)
    records, counters = await _counts(live)
    again = await live.checking.check(batch.ids, batch.hold_until)

    assert (first.checked, first.alive) == (len(good + dead), len(good))
    assert (again.checked, again.alive) == (0, 0)
    assert await _counts(live) == (records, counters)
    assert sorted(counters) == sorted([(1, 1)] * len(good) + [(1, 0)] * len(dead))


async def test_a_lapsed_claim_checks_nothing(live: bootstrap.Container, farm: Farm) -> None:
    good = [a for a, t in farm.proxies if t.behaviour is Behaviour.ELITE]
    await live.inventory.add(good, ProxyOrigin.MANUAL)
    batch = await live.checking.claim_batch()
    # Another scheduler claimed the same proxies once this claim lapsed.
    newer = batch.hold_until + timedelta(seconds=1)
    async with live.database.engines.writer.begin() as conn:
        await conn.execute(ProxyRow.__table__.update().values(next_check_at=newer))
    summary = await live.checking.check(batch.ids, batch.hold_until)
    assert summary.checked == 0
    assert (await _counts(live))[0] == 0
    # Without a claim (a hand-run check), they are checked, and counted.
    assert (await live.checking.check(batch.ids)).checked == len(good)
    assert (await _counts(live))[1] == [(1, 1)] * len(good)


@pytest.fixture
def redis_url_only(redis_url: str | None) -> str:
    if redis_url is None:
        pytest.skip("the task stream is Redis's")
    return redis_url


async def test_the_stream_is_trimmed_and_gone_consumers_removed(
        live: bootstrap.Container, redis_url_only: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    queue = live.queue
    stream = f"{live.settings.redis_prefix}tasks"
    client = aioredis.Redis.from_url(redis_url_only)
    try:
        for _ in range(5):
            await queue.enqueue_check([uuid.uuid4()])  # ids nobody holds: nothing to do
        # A process that started, read nothing and died long ago.
        await client.xgroup_createconsumer(stream, CONSUMER_GROUP, "gone-process")
        await _until_empty_pending(client, stream)
        assert await client.xlen(stream) == 5
        names = await _consumers(client, stream)
        assert "gone-process" in names

        monkeypatch.setattr(queue_module, "STALE_CONSUMER_MS", 0)
        trimmed = await queue.tidy()
        assert trimmed == 5
        assert await client.xlen(stream) == 0
        assert "gone-process" not in await _consumers(client, stream)

        other = build_broker(redis_url_only, stream)
        await other.startup()
        await client.xgroup_createconsumer(stream, CONSUMER_GROUP, other.consumer_name)
        await TaskQueue(other, live.sources, live.checking).close()
        assert other.consumer_name not in await _consumers(client, stream)
    finally:
        await client.aclose()


async def _consumers(client: aioredis.Redis, stream: str) -> set[str]:
    found = await client.xinfo_consumers(stream, CONSUMER_GROUP)
    return {c["name"].decode() if isinstance(c["name"], bytes) else c["name"] for c in found}


async def _until_empty_pending(client: aioredis.Redis, stream: str) -> None:
    for _ in range(300):
        groups = await client.xinfo_groups(stream)
        group = next(g for g in groups if g["name"] in (CONSUMER_GROUP, CONSUMER_GROUP.encode()))
        if group["pending"] == 0 and group["lag"] == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the consumer did not take the entries")
