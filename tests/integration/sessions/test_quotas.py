"""Quotas in the database: exact under a race between two processes' engines, kept across a
restart, a repeated like or follow free, a refusal freeing its unit and cooling off."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from proxyfleet import bootstrap
from proxyfleet.bootstrap import Container
from proxyfleet.core.instagram import InstagramAction, QuotaExceeded, Refusal
from proxyfleet.sessions.quotas import AlreadyDone, QuotaService, Reservation
from proxyfleet.settings import Settings

LIKE = InstagramAction.LIKE
FOLLOW = InstagramAction.FOLLOW


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def quotas(container: Container, clock: Clock) -> QuotaService:
    return QuotaService(container.database, container.quotas.policy, clock=clock)


async def _try(quotas: QuotaService, target: str) -> Reservation | AlreadyDone | None:
    try:
        return await quotas.reserve("racer", LIKE, target)
    except QuotaExceeded:
        return None


async def test_two_processes_racing_50_likes_with_10_left_perform_10(
        container: Container, settings: Settings) -> None:
    await container.quotas.ensure_account("racer", {LIKE: 12})
    for target in ("a", "b"):
        await settle_done(container.quotas, await container.quotas.reserve("racer", LIKE, target))
    other = bootstrap.build(settings)  # its own engines and pool, as another process has
    await other.start()
    try:
        outcomes = await asyncio.gather(*(
            _try((container.quotas, other.quotas)[i % 2], f"post-{i}") for i in range(50)))
    finally:
        await other.close()
    taken = [o for o in outcomes if isinstance(o, Reservation)]
    assert len(taken) == 10
    assert outcomes.count(None) == 40
    like = (await container.quotas.limits("racer"))[1]
    assert (like.action, like.used, like.left) == (LIKE, 12, 0)


async def settle_done(quotas: QuotaService, taken: Reservation | AlreadyDone) -> None:
    assert isinstance(taken, Reservation)
    await quotas.settle(taken, None)


async def test_restart_keeps_the_counts(container: Container, settings: Settings) -> None:
    for target in ("1", "2", "3"):
        await settle_done(container.quotas, await container.quotas.reserve("kept", FOLLOW,
                                                                            target))
    await container.close()
    restarted = bootstrap.build(settings)
    await restarted.start()
    try:
        follow = (await restarted.quotas.limits("kept"))[0]
    finally:
        await restarted.close()
    assert (follow.action, follow.limit, follow.used, follow.left) == (FOLLOW, 200, 3, 197)


async def test_a_repeated_like_burns_no_quota(quotas: QuotaService) -> None:
    await settle_done(quotas, await quotas.reserve("fan", LIKE, "m1"))
    again = await quotas.reserve("fan", LIKE, "m1")
    assert again == AlreadyDone("fan", LIKE, "m1")
    assert (await quotas.limits("fan"))[1].used == 1
    comments = [await quotas.reserve("fan", InstagramAction.COMMENT, "m1") for _ in range(2)]
    assert all(isinstance(c, Reservation) for c in comments)  # comments may repeat


async def test_the_same_like_under_way_is_refused(quotas: QuotaService) -> None:
    await quotas.reserve("fan", LIKE, "m1")
    with pytest.raises(QuotaExceeded) as refused:
        await quotas.reserve("fan", LIKE, "m1")
    assert refused.value.details["reason"] == "in_progress"


async def test_the_limit_refuses_and_says_when_a_unit_frees(quotas: QuotaService,
                                                            clock: Clock) -> None:
    await quotas.ensure_account("busy", {FOLLOW: 2})
    first = clock.now
    await settle_done(quotas, await quotas.reserve("busy", FOLLOW, "1"))
    clock.now += timedelta(hours=5)
    await settle_done(quotas, await quotas.reserve("busy", FOLLOW, "2"))
    with pytest.raises(QuotaExceeded) as refused:
        await quotas.reserve("busy", FOLLOW, "3")
    assert refused.value.details == {"action": "follow", "reason": "daily_limit",
                                     "retry_at": "2026-12-08T09:00:00Z"}
    follow = (await quotas.limits("busy"))[0]
    assert (follow.limit, follow.used, follow.left, follow.frees_at) == (
        2, 2, 0, first + timedelta(hours=24))
    clock.now = first + timedelta(hours=24)
    assert isinstance(await quotas.reserve("busy", FOLLOW, "3"), Reservation)


async def test_a_refusal_frees_its_unit_and_cools_off(quotas: QuotaService,
                                                      clock: Clock) -> None:
    taken = await quotas.reserve("blocked", LIKE, "m1")
    assert isinstance(taken, Reservation)
    effect = await quotas.settle(taken, Refusal.FEEDBACK_REQUIRED)
    assert effect.action_blocked_until == clock.now + timedelta(hours=12)
    like = (await quotas.limits("blocked"))[1]
    assert (like.used, like.blocked_until) == (0, clock.now + timedelta(hours=12))
    with pytest.raises(QuotaExceeded) as refused:
        await quotas.reserve("blocked", LIKE, "m1")
    assert refused.value.details["reason"] == "feedback_required"
    assert isinstance(await quotas.reserve("blocked", FOLLOW, "x"), Reservation)
    clock.now += timedelta(hours=12)
    assert isinstance(await quotas.reserve("blocked", LIKE, "m1"), Reservation)


async def test_old_comments_and_refusals_are_forgotten_but_likes_stay(
        quotas: QuotaService, clock: Clock) -> None:
    await settle_done(quotas, await quotas.reserve("old", LIKE, "m1"))
    await settle_done(quotas, await quotas.reserve("old", InstagramAction.COMMENT, "m1"))
    clock.now += timedelta(hours=25)
    assert await quotas.forget_old() == 1
    assert await quotas.reserve("old", LIKE, "m1") == AlreadyDone("old", LIKE, "m1")
