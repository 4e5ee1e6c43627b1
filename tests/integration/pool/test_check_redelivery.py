"""Several processes: a check batch carries its claim, in the task the queue delivers, so a
batch delivered twice (a worker killed, its stream entry handed to another) checks and
records nothing the second time; the stream hands an unacknowledged entry on after the claim
hold; every round is counted in checks_total / checks_passed; with Redis, the task stream is
trimmed of acknowledged entries and consumers of processes gone are removed."""

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
from proxyfleet.pool.checking import Claim
from proxyfleet.sim.farm import Behaviour, Farm
from proxyfleet.storage.tables import ProxyCheckRow, ProxyRow
from tests.integration.pool.queued import until_drained, until_run

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
    # Each round adds to the counters, past what the bounded history keeps.
    await live.checking.check(batch.ids)
    assert (await _counts(live))[1] == [(2, 2)] * len(good)


async def _queued_and_run(live: bootstrap.Container, batch: Claim) -> None:
    """Send the batch's task through the container's queue and wait until it has run."""
    await until_run(live, await live.queue.enqueue_check(batch.ids, batch.hold_until))


async def test_a_batch_queued_twice_with_its_claim_is_checked_once(
        live: bootstrap.Container, farm: Farm) -> None:
    good = [a for a, t in farm.proxies if t.behaviour is Behaviour.ELITE]
    await live.inventory.add(good, ProxyOrigin.MANUAL)
    batch = await live.checking.claim_batch()
    # The claim travels in the task (and comes back out of it) as the very time it holds.
    await _queued_and_run(live, batch)
    records, counters = await _counts(live)
    assert records >= len(good)
    assert counters == [(1, 1)] * len(good)
    await _queued_and_run(live, batch)
    assert await _counts(live) == (records, counters)


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
        await until_drained(client, stream)
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


async def test_a_killed_consumers_batch_is_handed_on_once_and_checked_once(
        live: bootstrap.Container, farm: Farm, redis_url_only: str) -> None:
    # The stream re-delivers an entry left unacknowledged as long as the claim holds it.
    hold = bootstrap.checking_policy(live.settings).claim_hold.total_seconds()
    assert getattr(live.queue.broker, "idle_timeout") == int(hold * 1000)  # noqa: B009

    good = [a for a, t in farm.proxies if t.behaviour is Behaviour.ELITE]
    await live.inventory.add(good, ProxyOrigin.MANUAL)
    batch = await live.checking.claim_batch()
    stream = f"{live.settings.redis_prefix}handed-on"
    # A stream of its own re-delivering after 0.3 s, to see the hand-over without waiting.
    queue = TaskQueue(build_broker(redis_url_only, stream, redelivery_seconds=0.3),
                      live.sources, live.checking)
    client = aioredis.Redis.from_url(redis_url_only)
    finished = asyncio.Event()
    try:
        await queue.start()
        await queue.enqueue_check(batch.ids, batch.hold_until)
        # A process reads the entry and is killed before it acknowledges it.
        taken = await client.xreadgroup(CONSUMER_GROUP, "killed", {stream: ">"}, count=10)
        assert len(taken[0][1]) == 1
        await _idle_past(client, stream, 300)
        consuming = asyncio.ensure_future(queue.consume(finished))
        # The broker hands on entries left idle when it next reads new ones.
        await queue.enqueue_check([uuid.uuid4()])
        await until_drained(client, stream)
        records, counters = await _counts(live)
        assert counters == [(1, 1)] * len(good)
        # Handed on once more (another consumer killed in turn): nothing checked again.
        await queue.enqueue_check(batch.ids, batch.hold_until)
        await until_drained(client, stream)
        assert await _counts(live) == (records, counters)
        finished.set()
        await consuming
    finally:
        finished.set()
        await queue.close()
        await client.aclose()


async def _idle_past(client: aioredis.Redis, stream: str, milliseconds: int) -> None:
    for _ in range(300):
        pending = await client.xpending_range(stream, CONSUMER_GROUP, "-", "+", 10)
        if pending and all(p["time_since_delivered"] > milliseconds for p in pending):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the entry stayed busy")


async def _consumers(client: aioredis.Redis, stream: str) -> set[str]:
    found = await client.xinfo_consumers(stream, CONSUMER_GROUP)
    return {c["name"].decode() if isinstance(c["name"], bytes) else c["name"] for c in found}
