"""The events features emit: pool low / recovered with hysteresis, credits low / exhausted,
lease and instance expiry. Each is read back from the outbox it was committed to."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
from sqlalchemy import update

from proxyfleet.bootstrap import Container, build
from proxyfleet.core.clock import utcnow
from proxyfleet.core.events import Event, EventName
from proxyfleet.core.proxies import ProxyProtocol
from proxyfleet.notify.rules import Hysteresis
from proxyfleet.notify.watch import PoolWatchService, WatchedPool
from proxyfleet.settings import Settings
from proxyfleet.storage.instances import InstanceRecord, InstanceType
from proxyfleet.storage.tables import LeaseRow, ProxyRow
from tests.conftest import Member
from tests.integration.pool.seeding import addresses, funded, seed


async def _stored(container: Container, *names: EventName) -> list[Event]:
    async with container.database.reading() as uow:
        return await uow.outbox.events_named([n.value for n in names])


async def _set_active(container: Container, count: int) -> None:
    """Make exactly `count` of the seeded socks5 proxies active, the rest dead."""
    async with container.database.engines.writer.begin() as conn:
        await conn.execute(update(ProxyRow).values(status="dead"))
        ids = (await conn.execute(ProxyRow.__table__.select()
                                  .where(ProxyRow.protocol == "socks5").limit(count))).all()
        await conn.execute(update(ProxyRow).where(ProxyRow.id.in_([r.id for r in ids]))
                           .values(status="active"))


def _watch(container: Container) -> PoolWatchService:
    return PoolWatchService(container.database, [
        WatchedPool("socks5", Hysteresis(low=3, recover=5), protocol=ProxyProtocol.SOCKS5)])


async def test_pool_low_fires_once_and_again_only_after_recovery(container: Container) -> None:
    await seed(container, addresses(8, protocol=ProxyProtocol.SOCKS5))
    await seed(container, addresses(8, net=11))  # http: outside the watched filter
    watch = _watch(container)
    seen = []
    for active in [6, 2, 1, 2, 4, 3, 5, 6, 4, 2, 2]:
        await _set_active(container, active)
        seen.extend(event.name.value for event in await watch.check())
    assert seen == ["proxy.pool_low", "proxy.pool_recovered", "proxy.pool_low"]
    stored = await _stored(container, EventName.POOL_LOW, EventName.POOL_RECOVERED)
    assert [e.name for e in stored] == [EventName.POOL_LOW, EventName.POOL_RECOVERED,
                                        EventName.POOL_LOW]
    assert stored[0].payload == {"watch": "socks5", "active": 2, "threshold": 3,
                                 "recover_at": 5, "filter": {"protocol": "socks5",
                                                             "country": None,
                                                             "anonymity": None}}
    assert stored[1].payload["active"] == 5


async def test_racing_watchers_report_a_crossing_once(container: Container,
                                                      settings: Settings) -> None:
    await seed(container, addresses(8, protocol=ProxyProtocol.SOCKS5))
    await _set_active(container, 1)
    others = [build(settings) for _ in range(2)]
    try:
        watchers = [_watch(c) for c in (container, *others)]
        found = await asyncio.gather(*(w.check() for w in watchers * 3))
    finally:
        for other in others:
            await other.close()
    assert sum(len(events) for events in found) == 1
    assert len(await _stored(container, EventName.POOL_LOW)) == 1


async def test_credits_low_and_exhausted_fire_on_their_crossings(
        client: httpx.AsyncClient, admin: Member, container: Container) -> None:
    # The test settings keep the default threshold: credits.low under 10.
    await seed(container, addresses(12), status="active", score=0.5)
    user = await funded(client, admin, 11)
    for _ in range(11):
        acquired = await client.post("/proxies/acquire", headers=user.headers)
        assert acquired.status_code == 200, acquired.text
    refused = await client.post("/proxies/acquire", headers=user.headers)
    assert refused.status_code == 402
    stored = await _stored(container, EventName.CREDITS_LOW, EventName.CREDITS_EXHAUSTED)
    assert [(e.name, e.payload["balance"]) for e in stored] == [
        (EventName.CREDITS_LOW, 9), (EventName.CREDITS_EXHAUSTED, 0)]
    assert {e.payload["user_id"] for e in stored} == {user.id}


async def test_expired_leases_are_reported_by_the_sweep_and_by_a_new_acquire(
        client: httpx.AsyncClient, admin: Member, container: Container) -> None:
    await seed(container, addresses(2), status="active", score=0.5)
    user = await funded(client, admin, 5)
    first = (await client.post("/proxies/acquire", headers=user.headers)).json()
    second = (await client.post("/proxies/acquire", headers=user.headers)).json()
    past = utcnow() - timedelta(minutes=1)
    async with container.database.engines.writer.begin() as conn:
        await conn.execute(update(LeaseRow).values(expires_at=past))
    # An acquire that takes an expired lease's proxy ends that lease itself...
    third = await client.post("/proxies/acquire", headers=user.headers)
    assert third.status_code == 200, third.text
    # ...and the sweep records the other.
    assert await container.leasing.expire_due() == 1
    stored = await _stored(container, EventName.LEASE_EXPIRED)
    assert sorted(e.payload["lease_id"] for e in stored) == sorted(
        [first["lease_id"], second["lease_id"]])
    assert {e.payload["user_id"] for e in stored} == {user.id}
    assert await container.leasing.expire_due() == 0
    assert len(await _stored(container, EventName.LEASE_EXPIRED)) == 2


async def test_an_expired_temp_instance_is_reported(container: Container) -> None:
    now = utcnow()
    record = InstanceRecord(uuid.uuid4(), InstanceType.SOCKS5, "lo", "2001:db8::77", None,
                            None, now - timedelta(minutes=2), now - timedelta(minutes=1))
    async with container.database.writing() as uow:
        await uow.instances.add(record)
        await uow.commit()
    assert await container.instances.expire_due() == [record.id]
    [event] = await _stored(container, EventName.INSTANCE_EXPIRED)
    assert event.payload["instance_id"] == str(record.id)
    assert event.payload["ipv6_address"] == "2001:db8::77"
