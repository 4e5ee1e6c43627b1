"""The outbox: events committed with their change reach every subscribed notifier, at least
once and once per notifier; failures are retried with back-off and mark a notifier unhealthy
without holding up the others."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from datetime import timedelta

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from proxyfleet.bootstrap import Container, build
from proxyfleet.core.clock import utcnow
from proxyfleet.core.events import Event, EventName
from proxyfleet.notify.delivery import DeliveryPolicy, DeliveryWorker
from proxyfleet.notify.rules import Backoff
from proxyfleet.settings import Settings
from proxyfleet.storage.tables import DeliveryRow, EventRow
from tests.conftest import Member
from tests.integration.notify.helpers import Clock, add_webhook, emit, worker
from tests.integration.notify.receiver import receiving


async def test_a_committed_event_is_delivered_signed(client: httpx.AsyncClient, admin: Member,
                                                     container: Container) -> None:
    async with receiving() as receiver:
        await add_webhook(client, admin, receiver.url, ["source.*"])
        event = await emit(container, EventName.SOURCE_FAILED,
                           {"source_id": "s1", "error": "boom"})
        await emit(container, EventName.CREDITS_LOW, {"user_id": "u1"})  # not subscribed
        assert await worker(container).run_once() == 1
    [arrived] = receiver.received
    assert arrived.document == {"id": str(event.id), "event": "source.failed",
                                "occurred_at": arrived.document["occurred_at"],
                                "payload": {"source_id": "s1", "error": "boom"}}
    assert arrived.headers["X-Proxyfleet-Delivery"] == str(event.id)
    stamp = arrived.headers["X-Proxyfleet-Timestamp"]
    signed = hmac.new(b"hook-secret", f"{stamp}.".encode() + arrived.body, hashlib.sha256)
    assert arrived.headers["X-Proxyfleet-Signature"] == "sha256=" + signed.hexdigest()


async def test_an_event_rolled_back_with_its_change_is_never_sent(
        client: httpx.AsyncClient, admin: Member, container: Container) -> None:
    async with receiving() as receiver:
        await add_webhook(client, admin, receiver.url)
        async with container.database.writing() as uow:
            uow.events.add(Event(EventName.SOURCE_FAILED, {"source_id": "gone"}))
            # no commit: the change and its event are undone together
        assert await worker(container).run_once() == 0
    assert receiver.received == []


async def test_a_500_is_retried_with_backoff_and_marks_the_notifier_unhealthy(
        client: httpx.AsyncClient, admin: Member, container: Container) -> None:
    clock = Clock()
    deliverer = worker(container, clock=clock, first_retry=10)
    async with receiving() as receiver:
        hook = await add_webhook(client, admin, receiver.url)
        receiver.status = 500
        await emit(container, EventName.SOURCE_FAILED, {"source_id": "s1"})
        assert await deliverer.run_once() == 1
        state = (await client.get(f"/notifiers/{hook['id']}", headers=admin.headers)).json()
        assert state["healthy"] is False
        assert "500" in state["last_error"]
        clock.advance(5)
        assert await deliverer.run_once() == 0  # not due yet: back-off
        clock.advance(5)
        assert await deliverer.run_once() == 1  # second attempt, still 500
        clock.advance(19)
        assert await deliverer.run_once() == 0  # the back-off doubled to 20 s
        receiver.status = 200
        clock.advance(1)
        assert await deliverer.run_once() == 1
        assert await deliverer.run_once() == 0
    assert len(receiver.received) == 3
    assert len({r.document["id"] for r in receiver.received}) == 1
    state = (await client.get(f"/notifiers/{hook['id']}", headers=admin.headers)).json()
    assert state["healthy"] is True
    assert state["consecutive_failures"] == 0


async def test_a_delivery_is_given_up_after_its_last_attempt(
        client: httpx.AsyncClient, admin: Member, container: Container) -> None:
    clock = Clock()
    deliverer = worker(container, clock=clock, attempts=3, first_retry=1)
    async with receiving() as receiver:
        receiver.status = 503
        await add_webhook(client, admin, receiver.url)
        await emit(container, EventName.LEASE_EXPIRED, {"lease_id": "l1"})
        for _ in range(6):
            await deliverer.run_once()
            clock.advance(100)
    assert len(receiver.received) == 3
    async with container.database.engines.reader.connect() as conn:
        states = (await conn.execute(select(DeliveryRow.state))).scalars().all()
    assert states == ["failed"]


async def test_a_failing_notifier_does_not_hold_up_the_others(
        client: httpx.AsyncClient, admin: Member, container: Container) -> None:
    async with receiving() as broken, receiving() as working:
        broken.status = 500
        bad = await add_webhook(client, admin, broken.url)
        good = await add_webhook(client, admin, working.url)
        for n in range(5):
            await emit(container, EventName.SOURCE_FAILED, {"n": n})
        await worker(container).run_once()
    assert sorted(r.document["payload"]["n"] for r in working.received) == [0, 1, 2, 3, 4]
    assert len(broken.received) == 5
    health = {n["id"]: n["healthy"] for n in
              (await client.get("/notifiers", headers=admin.headers)).json()["items"]}
    assert health == {bad["id"]: False, good["id"]: True}


async def test_a_notifier_added_later_gets_only_later_events(
        client: httpx.AsyncClient, admin: Member, container: Container) -> None:
    async with receiving() as receiver:
        await emit(container, EventName.SOURCE_FAILED, {"n": 1})
        await worker(container).run_once()
        await add_webhook(client, admin, receiver.url)
        await emit(container, EventName.SOURCE_FAILED, {"n": 2})
        await worker(container).run_once()
    assert [r.document["payload"]["n"] for r in receiver.received] == [2]


async def test_racing_workers_deliver_each_event_once_per_notifier(
        client: httpx.AsyncClient, admin: Member, container: Container,
        settings: Settings) -> None:
    """Three containers (three engines, as three processes have) drain one outbox at once."""
    async with receiving() as first, receiving() as second:
        await add_webhook(client, admin, first.url)
        await add_webhook(client, admin, second.url, ["source.*"])
        events = [await emit(container, EventName.SOURCE_FAILED, {"n": n}) for n in range(60)]
        others = [build(settings) for _ in range(2)]
        try:
            deliverers = [worker(c, batch_size=10) for c in (container, *others)]
            await asyncio.gather(*(d.run_once() for d in deliverers))
        finally:
            for other in others:
                await other.close()
    wanted = sorted(str(e.id) for e in events)
    assert sorted(r.document["id"] for r in first.received) == wanted
    assert sorted(r.document["id"] for r in second.received) == wanted
    async with container.database.engines.reader.connect() as conn:
        pending = await conn.scalar(select(func.count()).select_from(DeliveryRow)
                                    .where(DeliveryRow.state != "delivered"))
    assert pending == 0


async def test_deleting_a_notifier_drops_its_deliveries(
        client: httpx.AsyncClient, admin: Member, container: Container) -> None:
    hook = await add_webhook(client, admin, "http://127.0.0.1:9/never")
    await emit(container, EventName.SOURCE_FAILED, {"source_id": str(uuid.uuid4())})
    await worker(container).fan_out()
    await client.delete(f"/notifiers/{hook['id']}", headers=admin.headers)
    async with container.database.engines.reader.connect() as conn:
        left = await conn.scalar(select(func.count()).select_from(DeliveryRow))
    assert left == 0


async def test_a_disabled_notifier_keeps_its_deliveries_until_it_is_on_again(
        client: httpx.AsyncClient, admin: Member, container: Container) -> None:
    async with receiving() as receiver:
        hook = await add_webhook(client, admin, receiver.url)
        await emit(container, EventName.SOURCE_FAILED, {"n": 1})
        await worker(container).fan_out()
        off = await client.patch(f"/notifiers/{hook['id']}", headers=admin.headers,
                                 json={"enabled": False})
        assert off.json()["enabled"] is False
        await emit(container, EventName.SOURCE_FAILED, {"n": 2})  # not fanned out to it
        assert await worker(container).run_once() == 0
        await client.patch(f"/notifiers/{hook['id']}", headers=admin.headers,
                           json={"enabled": True})
        assert await worker(container).run_once() == 1
    assert [r.document["payload"]["n"] for r in receiver.received] == [1]


async def test_old_events_are_forgotten_once_every_delivery_is_done(
        client: httpx.AsyncClient, admin: Member, container: Container) -> None:
    clock = Clock()
    deliverer = DeliveryWorker(container.database, container.notifiers, DeliveryPolicy(
        10, timedelta(seconds=60), Backoff(timedelta(seconds=10), timedelta(seconds=10), 5),
        keep=timedelta(days=1)), clock=clock)
    async with receiving() as working, receiving() as broken:
        broken.status = 500
        await add_webhook(client, admin, working.url, ["source.*"])
        await add_webhook(client, admin, broken.url, ["credits.*"])
        await emit(container, EventName.SOURCE_FAILED, {"n": 1})
        await emit(container, EventName.CREDITS_LOW, {"n": 2})
        await deliverer.run_once()
        clock.advance(2 * 86400)
        assert await deliverer.purge() == 1  # the credits event still waits for its retry
    async with container.database.engines.reader.connect() as conn:
        names = (await conn.execute(select(EventRow.name))).scalars().all()
    assert names == ["credits.low"]


async def test_a_claim_takes_at_most_one_batch(client: httpx.AsyncClient, admin: Member,
                                               container: Container) -> None:
    """One claim is one batch, however the database plans it. With statistics gathered while
    the outbox was empty (autovacuum is behind a burst of events), PostgreSQL ran the claim's
    `LIMIT … FOR UPDATE SKIP LOCKED` subquery again for each row of a nested loop, each run
    skipping the rows the statement had just claimed: one process took every delivery at
    once (bench/notify_delivery: 2,000 sends in one go, all timing out)."""
    async with container.database.engines.writer.connect() as conn:
        await _analyze(conn)
    for _ in range(2):
        await add_webhook(client, admin, "http://127.0.0.1:9/never")
    for n in range(150):
        await emit(container, EventName.SOURCE_FAILED, {"n": n})
    while await worker(container).fan_out():
        pass
    claims = []
    while True:
        async with container.database.writing() as uow:
            now = utcnow()
            claimed = await uow.outbox.claim(now, now + timedelta(minutes=1), 10)
            await uow.commit()
        if not claimed:
            break
        claims.append(len(claimed))
    assert claims == [10] * 30


async def _analyze(conn: AsyncConnection) -> None:
    """Statistics of the outbox as it is now (SQLite: nothing to do)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("ANALYZE event_deliveries"))
        await conn.commit()


async def test_a_hung_notifier_does_not_hold_up_the_others(
        client: httpx.AsyncClient, admin: Member, container: Container) -> None:
    """Sends are pipelined: while one notifier's sends hang (up to its timeout, a minute
    here), the others' deliveries keep being claimed and sent."""
    async with receiving() as hung, receiving() as working:
        hung.hang = True
        response = await client.post("/notifiers", headers=admin.headers, json={
            "name": "webhook", "url": hung.url, "timeout_seconds": 60,
            "subscribes_to": ["*"]})
        assert response.status_code == 201, response.text
        await add_webhook(client, admin, working.url)
        for n in range(60):
            await emit(container, EventName.SOURCE_FAILED, {"n": n})
        sending = asyncio.ensure_future(worker(container, batch_size=10).run_once())
        try:
            async with asyncio.timeout(30):  # a bound for a broken build, not a measure
                while len(working.received) < 60:
                    await asyncio.sleep(0.05)
            assert not sending.done()  # the hung notifier's sends are still out
        finally:
            hung.hang = False
            await sending
    assert sorted(r.document["payload"]["n"] for r in working.received) == list(range(60))
    assert sorted(r.document["payload"]["n"] for r in hung.received) == list(range(60))
