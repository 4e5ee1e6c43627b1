"""A judge and a farm on loopback, and a pipeline of the built-in checkers pointed at them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from proxyfleet.pool.checkers import CheckContext, CheckerRegistry, Pipeline, own_public_ip
from proxyfleet.sim.farm import Farm, FarmSpec
from proxyfleet.sim.judge import Judge

SLOW_DELAY = 0.2


@pytest.fixture
async def judge() -> AsyncIterator[Judge]:
    async with Judge() as running:
        yield running


@pytest.fixture
async def ctx(judge: Judge) -> CheckContext:
    return CheckContext(judge_url=judge.url, own_ip=await own_public_ip(judge.url), timeout=3.0)


@pytest.fixture
def pipeline() -> Pipeline:
    return Pipeline(CheckerRegistry.load(entry_points=[]))


@pytest.fixture
async def farm() -> AsyncIterator[Farm]:
    # Three of every kind: 75 proxies, every protocol with every behaviour it can have.
    async with Farm(FarmSpec.of_every_kind(3, slow_delay=SLOW_DELAY)) as running:
        yield running
