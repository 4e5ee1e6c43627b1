"""The handover between check_many's workers and its caller: items in the order put, a taker
that waits for them, and pulls bounded by what was taken."""

from __future__ import annotations

import asyncio

from proxyfleet.pool.checkers.handover import Handover


async def test_items_come_out_in_the_order_they_were_put() -> None:
    handover: Handover[int] = Handover(ahead=1)
    for item in (3, 1, 2):
        handover.put(item)
    assert [await handover.take() for _ in range(3)] == [3, 1, 2]


async def test_a_taker_waits_for_the_next_item() -> None:
    handover: Handover[str] = Handover(ahead=1)
    taking = asyncio.ensure_future(handover.take())
    await asyncio.sleep(0)
    assert not taking.done()
    handover.put("found")
    assert await asyncio.wait_for(taking, 1) == "found"


async def test_pulls_beyond_the_allowance_wait_for_an_unpull() -> None:
    handover: Handover[int] = Handover(ahead=2)
    await handover.pull()
    await handover.pull()
    third = asyncio.ensure_future(handover.pull())
    await asyncio.sleep(0)
    assert not third.done()
    handover.unpull()
    await asyncio.wait_for(third, 1)


async def test_an_unpull_passes_over_a_worker_that_stopped_waiting() -> None:
    handover: Handover[int] = Handover(ahead=0)
    gone, waiting = asyncio.ensure_future(handover.pull()), asyncio.ensure_future(handover.pull())
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0)
    handover.unpull()
    await asyncio.wait_for(waiting, 1)
    assert gone.cancelled()
