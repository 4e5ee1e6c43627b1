"""A scheduled scrape's task carries the cron slot it was claimed for: delivered twice (its
worker killed and the stream entry handed to another), the slot is scraped once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from proxyfleet.bootstrap import Container
from proxyfleet.core.clock import utcnow
from proxyfleet.core.proxies import ProxyProtocol
from proxyfleet.sim.lists import Body, ListServer
from proxyfleet.storage.tables import SourceRow
from tests.integration.pool.queued import until_run

LIST = "10.4.0.1:8080\n10.4.0.2:8080\n"


@pytest.fixture
async def lists() -> AsyncIterator[ListServer]:
    async with ListServer({"/plain.txt": Body(LIST)}) as server:
        yield server


async def _due_slot(container: Container, lists: ListServer) -> tuple[uuid.UUID, datetime]:
    """A source whose run is due, claimed: its id and the cron slot claimed."""
    source = await container.sources.create(lists.url("/plain.txt"), "plaintext",
                                            "*/5 * * * *", ProxyProtocol.HTTP, True)
    async with container.database.engines.writer.begin() as conn:
        await conn.execute(update(SourceRow).where(SourceRow.id == source.id)
                           .values(next_run_at=utcnow() - timedelta(seconds=1)))
    [(claimed, slot)] = await container.sources.claim_due_runs()
    assert claimed.id == source.id
    return source.id, slot


async def test_a_slot_delivered_twice_is_scraped_once(container: Container,
                                                      lists: ListServer) -> None:
    source_id, slot = await _due_slot(container, lists)

    first = await container.sources.scrape_slot(source_id, slot)
    again = await container.sources.scrape_slot(source_id, slot)
    older = await container.sources.scrape_slot(source_id, slot - timedelta(minutes=5))

    assert first is not None and first.counts.new == 2
    assert again is None and older is None
    assert lists.hits["/plain.txt"] == 1
    later = await container.sources.scrape_slot(source_id, slot + timedelta(minutes=5))
    assert later is not None
    assert lists.hits["/plain.txt"] == 2


async def test_a_scrape_queued_twice_for_its_slot_runs_once(container: Container,
                                                            lists: ListServer) -> None:
    container.start_consumer()  # with Redis, tasks go through the shared stream
    source_id, slot = await _due_slot(container, lists)
    # The slot travels in the task (and comes back out of it) as the very slot claimed.
    for _ in range(2):
        await until_run(container, await container.queue.enqueue_scrape(source_id, slot))
    assert lists.hits["/plain.txt"] == 1
