"""Fixtures of the checking tests: a simulated proxy farm on loopback, and a container whose
checks are quick and (with Redis) run through the shared task stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from proxyfleet import bootstrap
from proxyfleet.settings import Settings
from proxyfleet.sim.farm import Farm, FarmSpec
from tests.integration.pool.live import live_container


@pytest.fixture
async def farm() -> AsyncIterator[Farm]:
    async with Farm(FarmSpec.of_every_kind(2, slow_delay=0.2)) as running:
        yield running


@pytest.fixture
async def live(settings: Settings, container: bootstrap.Container,
               ) -> AsyncIterator[bootstrap.Container]:
    fast = settings.model_copy(update={"check_timeout_seconds": 3.0})
    async with live_container(fast) as running:
        running.start_consumer()  # with Redis, check tasks go through the shared stream
        yield running
