"""The judge on loopback, a check context that knows our address from it, and a pipeline of
the built-in checkers: what every daemon test checks its daemon with."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest

from proxyfleet.pool.checkers import CheckContext, CheckerRegistry, Pipeline, own_public_ip
from proxyfleet.sim.judge import Judge
from tests.integration.daemons.processes import LISTEN


@pytest.fixture
async def judge() -> AsyncIterator[Judge]:
    async with Judge(host=LISTEN) as running:
        yield running


@pytest.fixture
async def ctx(judge: Judge) -> CheckContext:
    own_ip = await own_public_ip(judge.url)
    assert own_ip == LISTEN  # the daemons egress elsewhere, so the judge can tell us apart
    return CheckContext(judge_url=judge.url, own_ip=own_ip, timeout=3.0)


@pytest.fixture
def pipeline() -> Pipeline:
    return Pipeline(CheckerRegistry.load(entry_points=[]))


@pytest.fixture
def daemons() -> Iterator[contextlib.ExitStack]:
    """Where a test's daemons are entered; each is stopped when the test ends."""
    with contextlib.ExitStack() as stack:
        yield stack
