"""Delivery across real processes: an event survives a kill -9 between its commit and its
delivery, and several `serve` processes deliver each event once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from proxyfleet.bootstrap import Container
from proxyfleet.core.events import EventName
from proxyfleet.storage.tables import DeliveryRow, EventRow
from tests.conftest import Member
from tests.integration.notify.helpers import add_webhook, emit
from tests.integration.notify.processes import notify_env, serve, until
from tests.integration.notify.receiver import receiving

pytestmark = pytest.mark.slow

# Commits one event the way a feature does, then dies before anything can deliver it.
COMMIT_THEN_DIE = """
import asyncio, os, signal
from proxyfleet import bootstrap
from proxyfleet.core.events import Event, EventName
from proxyfleet.settings import Settings

async def main():
    container = bootstrap.build(Settings())
    async with container.database.writing() as uow:
        uow.events.add(Event(EventName.SOURCE_DISABLED, {"source_id": "killed"}))
        await uow.commit()
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


async def _count(container: Container, table: type, *where: object) -> int:
    async with container.database.engines.reader.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table).where(*where))
                   or 0)


async def test_an_event_committed_by_a_killed_process_is_delivered_after_restart(
        client: httpx.AsyncClient, admin: Member, container: Container, tmp_path: Path,
        database_url: str, redis_url: str | None) -> None:
    env = notify_env(tmp_path, database_url, redis_url)
    async with receiving() as receiver:
        await add_webhook(client, admin, receiver.url, ["source.*"])
        child = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", COMMIT_THEN_DIE],
                                        env=env, capture_output=True, timeout=60, check=False)
        assert child.returncode == -signal.SIGKILL, child.stderr
        assert await _count(container, EventRow) == 1
        assert receiver.received == []
        async with serve(env):
            await until(lambda: _some(receiver), "the delivery")
    [arrived] = receiver.received
    assert arrived.document["event"] == "source.disabled"
    assert arrived.document["payload"] == {"source_id": "killed"}


async def _some(receiver: object) -> bool:
    return bool(getattr(receiver, "received", None))


async def test_a_delivery_claimed_by_a_killed_process_is_sent_again(
        client: httpx.AsyncClient, admin: Member, container: Container, tmp_path: Path,
        database_url: str, redis_url: str | None) -> None:
    env = notify_env(tmp_path, database_url, redis_url, PROXYFLEET_NOTIFY_CLAIM_SECONDS="1")
    async with receiving() as receiver:
        receiver.hang = True  # the first process sends, and hangs waiting for the answer
        await add_webhook(client, admin, receiver.url)
        event = await emit(container, EventName.LEASE_EXPIRED, {"lease_id": "l1"})
        async with serve(env) as first:
            await until(lambda: _some(receiver), "the first attempt")
            os.kill(first.pid, signal.SIGKILL)
            await asyncio.to_thread(first.wait, 20)
        receiver.hang = False
        assert await _count(container, DeliveryRow, DeliveryRow.state == "pending") == 1
        async with serve(env):
            await until(lambda: _delivered(container), "the delivery after the restart")
    assert [r.document["id"] for r in receiver.received] == [str(event.id)] * 2
    assert {r.headers["X-Proxyfleet-Delivery"] for r in receiver.received} == {str(event.id)}


async def _delivered(container: Container) -> bool:
    return await _count(container, DeliveryRow, DeliveryRow.state == "delivered") == 1


async def test_two_processes_deliver_each_event_once(
        client: httpx.AsyncClient, admin: Member, container: Container, tmp_path: Path,
        database_url: str, redis_url: str | None) -> None:
    env = notify_env(tmp_path, database_url, redis_url)
    async with receiving() as receiver:
        await add_webhook(client, admin, receiver.url)
        async with serve(env), serve(env):
            events = [await emit(container, EventName.SOURCE_FAILED, {"n": n})
                      for n in range(40)]

            async def all_delivered() -> bool:
                done = DeliveryRow.state == "delivered"
                return await _count(container, DeliveryRow, done) == len(events)

            await until(all_delivered, "every delivery")
    received = sorted(r.document["id"] for r in receiver.received)
    assert received == sorted(str(e.id) for e in events)
