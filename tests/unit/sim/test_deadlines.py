"""`sim.deadlines`: one timer cuts off every connection that outlives the timeout, none that
left, and none before its time (read on the loop's clock, not measured)."""

from __future__ import annotations

import asyncio

from proxyfleet.sim.deadlines import SLICES, Deadlines


class Member:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.entered = loop.time()
        self.aborted_at: float | None = None
        self._loop = loop

    def abort(self) -> None:
        self.aborted_at = self._loop.time()


async def test_members_are_cut_off_after_the_timeout_never_before() -> None:
    loop = asyncio.get_running_loop()
    deadlines: Deadlines[Member] = Deadlines(0.08)
    members = []
    for _ in range(5):
        member = Member(loop)
        deadlines.enter(member)
        members.append(member)
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.08 * (1 + 2 / SLICES))
    for member in members:
        assert member.aborted_at is not None
        assert member.aborted_at - member.entered >= 0.08
    assert list(deadlines) == []


async def test_a_member_that_leaves_is_not_cut_off() -> None:
    loop = asyncio.get_running_loop()
    deadlines: Deadlines[Member] = Deadlines(0.02)
    staying, leaving = Member(loop), Member(loop)
    deadlines.enter(staying)
    deadlines.enter(leaving).discard(leaving)
    assert list(deadlines) == [staying]
    await asyncio.sleep(0.05)
    assert staying.aborted_at is not None
    assert leaving.aborted_at is None


async def test_stopping_forgets_every_member() -> None:
    loop = asyncio.get_running_loop()
    deadlines: Deadlines[Member] = Deadlines(0.01)
    member = Member(loop)
    deadlines.enter(member)
    deadlines.stop()
    await asyncio.sleep(0.03)
    assert member.aborted_at is None
    assert list(deadlines) == []


async def test_members_entering_after_a_stop_are_cut_off_again() -> None:
    loop = asyncio.get_running_loop()
    deadlines: Deadlines[Member] = Deadlines(0.02)
    deadlines.enter(Member(loop))
    deadlines.stop()
    member = Member(loop)
    deadlines.enter(member)
    assert list(deadlines) == [member]
    await asyncio.sleep(0.05)
    assert member.aborted_at is not None
