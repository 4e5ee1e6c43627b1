"""The one per-user limiter, in the process: a cap on places held at once and a token bucket
of units per minute, on a clock the test turns."""

from __future__ import annotations

import uuid

import pytest

from proxyfleet.core.limits import Caps, MemoryLimiter, Refusal

ALICE, BOB = uuid.uuid4(), uuid.uuid4()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_places_are_capped_per_user_and_freed_on_release() -> None:
    limiter = MemoryLimiter(Caps(at_once=2))
    first, second = await limiter.admit(ALICE), await limiter.admit(ALICE)
    assert first and second
    third = await limiter.admit(ALICE)
    assert third.refused is Refusal.AT_ONCE and not third
    assert await limiter.admit(BOB)  # each user has places of their own
    limiter.release(first)
    limiter.release(third)  # a refused admission holds nothing to give back
    assert await limiter.admit(ALICE)
    assert limiter.holding(ALICE) == 2


async def test_the_bucket_holds_a_minute_of_units_and_refills_evenly() -> None:
    clock = Clock()
    limiter = MemoryLimiter(Caps(per_minute=60), clock=clock)
    assert await limiter.admit(ALICE, 50) and await limiter.admit(ALICE, 10)
    refused = await limiter.admit(ALICE, 1)
    assert refused.refused is Refusal.RATE and refused.retry_after == pytest.approx(1.0)
    assert await limiter.admit(BOB, 60)  # each user has a bucket of their own
    clock.now += 4.999
    assert (await limiter.admit(ALICE, 5)).retry_after == pytest.approx(0.001)
    clock.now += 0.001
    assert await limiter.admit(ALICE, 5)
    clock.now += 3600  # a long rest fills the bucket, never past its size
    assert await limiter.admit(ALICE, 60)
    assert not await limiter.admit(ALICE, 1)


async def test_a_refused_admission_takes_nothing() -> None:
    limiter = MemoryLimiter(Caps(at_once=1, per_minute=10), clock=Clock())
    assert not await limiter.admit(ALICE, 11)
    held = await limiter.admit(ALICE, 10)
    assert held
    # At the place cap: refused before the bucket is touched.
    assert (await limiter.admit(ALICE, 0)).refused is Refusal.AT_ONCE
    limiter.release(held)
    assert (await limiter.admit(ALICE, 1)).refused is Refusal.RATE
    assert limiter.holding(ALICE) == 0


async def test_without_hold_only_the_rate_counts() -> None:
    limiter = MemoryLimiter(Caps(at_once=1, per_minute=3), clock=Clock())
    assert await limiter.admit(ALICE)
    answers = [bool(await limiter.admit(ALICE, hold=False)) for _ in range(3)]
    assert answers == [True, True, False]


async def test_zero_means_no_cap() -> None:
    limiter = MemoryLimiter(Caps(0, 0))
    for _ in range(10_000):
        assert await limiter.admit(ALICE, 5)
    assert limiter.holding(ALICE) == 0
