"""A scheduled scrape's task carries the cron slot it was claimed for: delivered twice (its
worker killed and the stream entry handed to another), the slot is scraped once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import update

from proxyfleet.bootstrap import Container
from proxyfleet.core.clock import utcnow
from proxyfleet.core.proxies import ProxyProtocol
from proxyfleet.sim.lists import Body, ListServer
from proxyfleet.storage.tables import SourceRow

LIST = "10.4.0.1:8080\n10.4.0.2:8080\n"


@pytest.fixture
async def lists() -> AsyncIterator[ListServer]:
    async with ListServer({"/plain.txt": Body(LIST)}) as server:
        yield server


async def test_a_slot_delivered_twice_is_scraped_once(container: Container,
                                                      lists: ListServer) -> None:
    source = await container.sources.create(lists.url("/plain.txt"), "plaintext",
                                            "*/5 * * * *", ProxyProtocol.HTTP, True)
    async with container.database.engines.writer.begin() as conn:
        await conn.execute(update(SourceRow).where(SourceRow.id == source.id)
                           .values(next_run_at=utcnow() - timedelta(seconds=1)))
    [(claimed, slot)] = await container.sources.claim_due_runs()
    assert claimed.id == source.id

    first = await container.sources.scrape_slot(source.id, slot)
    again = await container.sources.scrape_slot(source.id, slot)
    older = await container.sources.scrape_slot(source.id, slot - timedelta(minutes=5))

    assert first is not None and first.counts.new == 2
    assert again is None and older is None
    assert lists.hits["/plain.txt"] == 1
    later = await container.sources.scrape_slot(source.id, slot + timedelta(minutes=5))
    assert later is not None
    assert lists.hits["/plain.txt"] == 2
