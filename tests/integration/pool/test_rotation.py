"""The rotation service on a real database: what it hands out, and counters kept exact."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from proxyfleet.bootstrap import Container
from proxyfleet.core.clock import utcnow
from proxyfleet.core.rotation import Strategy, Want, hour_of
from proxyfleet.pool.rotation import RotationService
from proxyfleet.storage.tables import ProxyRow
from tests.conftest import Member
from tests.integration.pool.seeding import addresses, funded, seed, set_fields


async def _ids(container: Container) -> dict[str, object]:
    async with container.database.engines.reader.connect() as conn:
        return {host: proxy_id for host, proxy_id in
                await conn.execute(select(ProxyRow.host, ProxyRow.id))}


async def _counters(container: Container, host: str) -> tuple[int, int, int, int]:
    async with container.database.engines.reader.connect() as conn:
        row = (await conn.execute(
            select(ProxyRow.total_requests, ProxyRow.failed_requests,
                   ProxyRow.requests_this_hour, ProxyRow.error_count)
            .where(ProxyRow.host == host))).one()
    return tuple(row)  # type: ignore[return-value]


async def test_private_disabled_and_dead_proxies_are_not_handed_out(
        container: Container) -> None:
    proxies = addresses(4)
    await seed(container, proxies, status="active", score=0.5)
    await set_fields(container, proxies[1].host, shared=False)
    await set_fields(container, proxies[2].host, is_active=False)
    await set_fields(container, proxies[3].host, status="dead")
    await container.rotation.refresh()
    hosts = {(await container.rotation.pick(Want())).host for _ in range(6)}  # type: ignore[union-attr]
    assert hosts == {proxies[0].host}
    private = {(await container.rotation.pick(Want(include_private=True))).host  # type: ignore[union-attr]
               for _ in range(6)}
    assert private == {proxies[0].host, proxies[1].host}


async def test_leases_skip_private_and_disabled_proxies(
        client: httpx.AsyncClient, container: Container, admin: Member) -> None:
    proxies = addresses(3)
    await seed(container, proxies, status="active", score=0.5)
    await set_fields(container, proxies[0].host, shared=False, score=0.9)
    await set_fields(container, proxies[1].host, is_active=False, score=0.8)
    member = await funded(client, admin, 5)
    first = await client.post("/proxies/acquire", headers=member.headers)
    assert first.status_code == 200 and first.json()["proxy"]["ip"] == proxies[2].host
    second = await client.post("/proxies/acquire", headers=member.headers)
    assert second.status_code == 409, second.text


async def test_concurrent_outcomes_add_up_exactly(container: Container) -> None:
    proxies = addresses(2)
    await seed(container, proxies, status="active", score=0.5)
    ids = await _ids(container)
    target = ids[proxies[0].host]
    await asyncio.gather(*(container.rotation.record_durably(target, i % 4 != 0)  # type: ignore[arg-type]
                           for i in range(400)))
    total, failed, this_hour, _ = await _counters(container, proxies[0].host)
    assert (total, failed, this_hour) == (400, 100, 400)


async def test_a_failing_proxy_cools_off_and_a_success_brings_it_back(
        container: Container) -> None:
    proxies = addresses(2)
    await seed(container, proxies, status="active", score=0.5)
    await container.rotation.change_settings(error_threshold=2, cooloff_seconds=3600)
    ids = await _ids(container)
    bad = ids[proxies[0].host]
    for _ in range(2):
        container.rotation.record(bad, False)  # type: ignore[arg-type]
    hosts = {(await container.rotation.pick(Want())).host for _ in range(4)}  # type: ignore[union-attr]
    assert hosts == {proxies[1].host}
    await container.rotation.flush()
    assert (await _counters(container, proxies[0].host))[3] == 2
    await container.rotation.refresh()  # what another process would see: still cooling
    hosts = {(await container.rotation.pick(Want())).host for _ in range(4)}  # type: ignore[union-attr]
    assert hosts == {proxies[1].host}
    container.rotation.record(bad, True)  # type: ignore[arg-type]
    await container.rotation.flush()
    assert await _counters(container, proxies[0].host) == (3, 2, 3, 0)
    hosts = {(await container.rotation.pick(Want())).host for _ in range(4)}  # type: ignore[union-attr]
    assert hosts == {proxies[0].host, proxies[1].host}


async def test_the_hourly_budget_holds(container: Container) -> None:
    proxies = addresses(2)
    await seed(container, proxies, status="active", score=0.5)
    await container.rotation.change_settings(hourly_budget=3)
    picks = [await container.rotation.pick(Want()) for _ in range(8)]
    handed = [p.host for p in picks if p is not None]
    assert sorted(handed) == sorted([proxies[0].host] * 3 + [proxies[1].host] * 3)


async def test_settings_are_stored_for_every_process(container: Container) -> None:
    await container.rotation.change_settings(strategy=Strategy.LEAST_USED, hourly_budget=50)
    stored = await container.rotation.settings()
    assert stored.strategy is Strategy.LEAST_USED and stored.hourly_budget == 50
    assert container.rotation.current_settings == stored


async def test_a_sticky_key_keeps_its_proxy_until_it_is_disabled(container: Container) -> None:
    proxies = addresses(5)
    await seed(container, proxies, status="active", score=0.5)
    await container.rotation.refresh()
    first = await container.rotation.pick(Want(key="account-1"))
    assert first is not None
    for _ in range(5):
        again = await container.rotation.pick(Want(key="account-1"))
        assert again is not None and again.proxy_id == first.proxy_id
    await set_fields(container, first.host, is_active=False)
    await container.rotation.refresh()
    moved = await container.rotation.pick(Want(key="account-1"))
    assert moved is not None and moved.proxy_id != first.proxy_id


async def _one_proxy_budget_of_two_at_9_59(
        container: Container) -> tuple[RotationService, list[datetime]]:
    """One proxy, a budget of 2 an hour, and a rotation service whose clock (the list's one
    item) stands a minute before 10 o'clock."""
    await seed(container, addresses(1), status="active", score=0.5)
    await container.rotation.change_settings(hourly_budget=2)
    clock = [datetime(2026, 12, 7, 9, 59, tzinfo=UTC)]
    rotation = RotationService(container.database, clock=lambda: clock[0])
    await rotation.refresh()
    return rotation, clock


async def test_picks_never_answered_stop_counting_when_their_hour_ends(
        container: Container) -> None:
    """A `next` client that never reports: its picks count against that hour's budget
    only."""
    rotation, clock = await _one_proxy_budget_of_two_at_9_59(container)
    assert [await rotation.pick(Want()) is not None for _ in range(3)] == [True, True, False]
    await rotation.refresh()  # a snapshot reload within the hour keeps them counted
    assert await rotation.pick(Want()) is None
    clock[0] += timedelta(minutes=2)
    await rotation.refresh()
    assert [await rotation.pick(Want()) is not None for _ in range(3)] == [True, True, False]


async def test_a_pick_given_back_frees_its_place_in_its_own_hour_only(
        container: Container) -> None:
    """A pick released unused no longer counts, across a reload too; one made in the hour
    before spent that hour's budget and frees nothing in the new one."""
    rotation, clock = await _one_proxy_budget_of_two_at_9_59(container)
    first = await rotation.pick(Want())
    assert first is not None and await rotation.pick(Want()) is not None
    assert await rotation.pick(Want()) is None
    rotation.release(first.proxy_id)
    await rotation.refresh()
    late = await rotation.pick(Want())
    assert late is not None and await rotation.pick(Want()) is None
    clock[0] += timedelta(minutes=2)
    await rotation.refresh()
    for _ in range(2):  # 10 o'clock's two, both answered: none of them is in flight
        pick = await rotation.pick(Want())
        assert pick is not None
        rotation.record(pick.proxy_id, True)
    rotation.release(late.proxy_id)  # of 9 o'clock: it frees nothing of 10 o'clock's two
    assert await rotation.pick(Want()) is None


async def test_a_choice_that_sends_nothing_takes_no_budget(container: Container) -> None:
    proxies = addresses(1)
    await seed(container, proxies, status="active", score=0.5)
    await container.rotation.change_settings(hourly_budget=1)
    for _ in range(3):
        assert await container.rotation.pick(Want(counts=False)) is not None
    assert await container.rotation.pick(Want()) is not None
    assert await container.rotation.pick(Want()) is None


async def test_never_a_disabled_dead_private_over_budget_or_cooling_proxy(
        container: Container) -> None:
    """Random inventories (seeded) through the real snapshot: whatever the strategy, a
    pick is never a proxy it may not hand out."""
    proxies = addresses(12)
    await seed(container, proxies, status="active", score=0.5)
    ids = await _ids(container)
    rng = random.Random(14)
    hour = hour_of(utcnow())
    handed = 0
    for _ in range(12):
        banned: set[object] = set()
        for proxy in proxies:
            fields = {"is_active": rng.random() > 0.25,
                      "status": rng.choice(["active", "active", "dead", "unchecked"]),
                      "shared": rng.random() > 0.25, "score": rng.uniform(0.05, 1.0),
                      "hourly_budget": rng.choice([None, None, 3, 5]),
                      "requests_this_hour": rng.randrange(6), "requests_hour": hour,
                      "error_count": rng.choice([0, 0, 1, 5]), "cooling_until": None}
            if fields["error_count"] == 5:
                fields["cooling_until"] = utcnow() + timedelta(hours=1)
            await set_fields(container, proxy.host, **fields)
            budget = fields["hourly_budget"]
            if not (fields["is_active"] and fields["status"] == "active"
                    and fields["shared"] and fields["error_count"] < 5
                    and (budget is None or fields["requests_this_hour"] < budget)):
                banned.add(ids[proxy.host])
        await container.rotation.change_settings(error_threshold=5, cooloff_seconds=3600,
                                                 hourly_budget=None)
        for strategy in Strategy:
            for _ in range(15):
                pick = await container.rotation.pick(Want(strategy=strategy, key="k"))
                assert pick is None or pick.proxy_id not in banned, (strategy, pick)
                handed += pick is not None
    assert handed > 150  # asks found proxies: the rules had work to do
