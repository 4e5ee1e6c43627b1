"""A stopping process always stops: each part gets its time, then is left behind."""

from __future__ import annotations

import asyncio

from proxyfleet.jobs.closing import close_in_order


async def test_every_step_runs_in_order_and_a_failing_one_does_not_stop_the_rest() -> None:
    ran: list[str] = []

    async def step(name: str) -> None:
        ran.append(name)
        if name == "b":
            raise RuntimeError("driver gone")

    missed = await close_in_order([(n, lambda n=n: step(n)) for n in "abc"], 5)
    assert ran == ["a", "b", "c"]
    assert missed == ["b"]


async def test_a_hung_step_is_left_behind_and_the_next_ones_still_close() -> None:
    never = asyncio.Event()
    closed: list[str] = []

    async def hangs_and_swallows_its_cancellation() -> None:
        while not never.is_set():
            try:
                await never.wait()
            except asyncio.CancelledError:
                continue

    async def database() -> None:
        closed.append("database")

    # Were the stuck step waited for, this would time out instead of answering.
    missed = await asyncio.wait_for(close_in_order(
        [("stuck", hangs_and_swallows_its_cancellation), ("database", database)], 0.2), 60)
    assert missed == ["stuck"]
    assert closed == ["database"]
    never.set()  # let the step left behind end with the test
