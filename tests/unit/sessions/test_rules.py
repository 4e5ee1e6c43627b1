"""Quota rules at their edges, on a frozen clock: the rolling window, the hourly cap, the gap
with its jitter, cool-offs, backoff bounds and how Instagram's answers are told apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from proxyfleet.core.instagram import (
    AccountQuotaState,
    InstagramAction,
    QuotaPolicy,
    Refusal,
    Usage,
)
from proxyfleet.sessions.rules import (
    DAY,
    backoff_delay,
    classify,
    consequence_of,
    dedupe_key,
    deny_reason,
    expires_at,
    next_action_at,
    quota_view,
    retried,
    window_start,
)

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
LIKE = InstagramAction.LIKE
POLICY = QuotaPolicy(per_day={InstagramAction.FOLLOW: 200, LIKE: 1000,
                              InstagramAction.COMMENT: 100})
FREE = AccountQuotaState()
µs = timedelta(microseconds=1)


def usage(times: list[datetime], now: datetime, length: timedelta = DAY) -> Usage:
    """What the database's count gives: the actions strictly inside the window."""
    inside = [t for t in times if t > window_start(now, length)]
    return Usage(len(inside), min(inside) if inside else None)


def test_an_action_counts_until_exactly_24_hours_later() -> None:
    policy = QuotaPolicy(per_day={LIKE: 1})
    times = [NOW]
    just_before = NOW + DAY - µs
    denial = deny_reason(LIKE, policy, FREE, usage(times, just_before), Usage(), just_before)
    assert denial is not None
    assert denial.reason == "daily_limit"
    assert denial.retry_at == NOW + DAY
    at_edge = NOW + DAY
    assert deny_reason(LIKE, policy, FREE, usage(times, at_edge), Usage(), at_edge) is None


def test_no_midnight_reset_lets_twice_the_cap_through() -> None:
    policy = QuotaPolicy(per_day={LIKE: 10})
    before_midnight = datetime(2026, 12, 7, 23, 50, tzinfo=UTC)
    times = [before_midnight] * 10
    after_midnight = datetime(2026, 12, 8, 0, 10, tzinfo=UTC)
    denial = deny_reason(LIKE, policy, FREE, usage(times, after_midnight), Usage(),
                         after_midnight)
    assert denial is not None
    assert denial.retry_at == before_midnight + DAY


def test_the_unit_frees_with_the_oldest_action() -> None:
    times = [NOW - timedelta(hours=20), NOW - timedelta(hours=3)]
    view = quota_view(LIKE, 2, usage(times, NOW), NOW, FREE)
    assert (view.limit, view.used, view.left) == (2, 2, 0)
    assert view.frees_at == NOW + timedelta(hours=4)
    later = NOW + timedelta(hours=4)
    view = quota_view(LIKE, 2, usage(times, later), later, FREE)
    assert (view.used, view.left, view.frees_at) == (1, 1, NOW + timedelta(hours=21))


def test_an_empty_window_frees_nothing() -> None:
    view = quota_view(LIKE, 1000, Usage(), NOW, FREE)
    assert (view.used, view.left, view.frees_at, view.blocked_until) == (0, 1000, None, None)


def test_per_account_overrides_replace_the_default() -> None:
    state = AccountQuotaState(overrides={LIKE: 3})
    times = [NOW - timedelta(hours=1)] * 3
    assert deny_reason(LIKE, POLICY, state, usage(times, NOW), Usage(), NOW) is not None
    assert deny_reason(LIKE, POLICY, FREE, usage(times, NOW), Usage(), NOW) is None


def test_the_hourly_cap_rolls_too() -> None:
    policy = QuotaPolicy(per_day={LIKE: 1000}, per_hour={LIKE: 2})
    times = [NOW - timedelta(minutes=50), NOW - timedelta(minutes=10)]
    hour = usage(times, NOW, timedelta(hours=1))
    denial = deny_reason(LIKE, policy, FREE, usage(times, NOW), hour, NOW)
    assert denial is not None
    assert (denial.reason, denial.retry_at) == ("hourly_limit", NOW + timedelta(minutes=10))
    later = NOW + timedelta(minutes=10)
    hour = usage(times, later, timedelta(hours=1))
    assert deny_reason(LIKE, policy, FREE, usage(times, later), hour, later) is None


def test_the_gap_with_its_jitter() -> None:
    policy = QuotaPolicy(per_day={LIKE: 10}, min_gap=timedelta(seconds=30),
                         gap_jitter=timedelta(seconds=10))
    assert next_action_at(policy, NOW, lambda low, high: low) == NOW + timedelta(seconds=30)
    upper = next_action_at(policy, NOW, lambda low, high: high)
    assert upper == NOW + timedelta(seconds=40)
    state = AccountQuotaState(next_action_at=upper)
    denial = deny_reason(LIKE, policy, state, Usage(), Usage(), upper - µs)
    assert denial is not None
    assert (denial.reason, denial.retry_at) == ("min_gap", upper)
    assert deny_reason(LIKE, policy, state, Usage(), Usage(), upper) is None


def test_no_gap_by_default() -> None:
    assert next_action_at(POLICY, NOW, lambda low, high: high) is None


def test_feedback_required_blocks_that_action_for_its_cooloff() -> None:
    effect = consequence_of(Refusal.FEEDBACK_REQUIRED, POLICY, NOW)
    assert effect.action_blocked_until == NOW + timedelta(hours=12)
    state = AccountQuotaState(blocked_until={LIKE: NOW + timedelta(hours=12)})
    later = NOW + timedelta(hours=12) - µs
    denial = deny_reason(LIKE, POLICY, state, Usage(), Usage(), later)
    assert denial is not None
    assert denial.reason == "feedback_required"
    assert deny_reason(InstagramAction.FOLLOW, POLICY, state, Usage(), Usage(), later) is None
    assert deny_reason(LIKE, POLICY, state, Usage(), Usage(), NOW + timedelta(hours=12)) is None
    assert quota_view(LIKE, 1000, Usage(), NOW, state).blocked_until == NOW + timedelta(hours=12)


def test_please_wait_stops_every_write_for_an_hour() -> None:
    effect = consequence_of(Refusal.PLEASE_WAIT, POLICY, NOW)
    assert effect.writes_blocked_until == NOW + timedelta(hours=1)
    state = AccountQuotaState(writes_blocked_until=effect.writes_blocked_until)
    for action in InstagramAction:
        denial = deny_reason(action, POLICY, state, Usage(), Usage(), NOW)
        assert denial is not None
        assert denial.reason == "please_wait"


def test_challenge_and_login_change_the_session() -> None:
    assert consequence_of(Refusal.CHALLENGE_REQUIRED, POLICY, NOW).challenge
    assert consequence_of(Refusal.LOGIN_REQUIRED, POLICY, NOW).invalidate
    assert consequence_of(Refusal.SERVER_ERROR, POLICY, NOW) == consequence_of(
        Refusal.UNREACHABLE, POLICY, NOW)


def test_expiry_takes_fractions_of_hours() -> None:
    assert expires_at(NOW, 0.5) == NOW + timedelta(minutes=30)
    assert expires_at(NOW, 24) == NOW + DAY


def test_likes_and_follows_dedupe_but_comments_repeat() -> None:
    assert dedupe_key(LIKE, "m1") == "m1"
    assert dedupe_key(InstagramAction.FOLLOW, "42") == "42"
    assert dedupe_key(InstagramAction.COMMENT, "m1") is None


def test_backoff_grows_and_stays_bounded() -> None:
    highest = [backoff_delay(n, 0.5, 8.0, lambda low, high: high) for n in range(1, 10)]
    assert highest == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0, 8.0]
    assert backoff_delay(3, 0.5, 8.0, lambda low, high: low) == 0.0


@pytest.mark.parametrize(("status", "message", "expected"), [
    (200, "", None),
    (400, "feedback_required", Refusal.FEEDBACK_REQUIRED),
    (400, "Please wait a few minutes before you try again.", Refusal.PLEASE_WAIT),
    (400, "challenge_required", Refusal.CHALLENGE_REQUIRED),
    (400, "checkpoint_required", Refusal.CHALLENGE_REQUIRED),
    (403, "login_required", Refusal.LOGIN_REQUIRED),
    (401, "", Refusal.LOGIN_REQUIRED),
    (429, "Please wait a few minutes before you try again.", Refusal.RATE_LIMITED),
    (429, "", Refusal.RATE_LIMITED),
    (503, "", Refusal.SERVER_ERROR),
    (403, "CSRF token missing or incorrect", Refusal.REJECTED),
])
def test_answers_are_told_apart(status: int, message: str, expected: Refusal | None) -> None:
    assert classify(status, message) is expected


def test_only_429_and_5xx_are_retried() -> None:
    assert retried(Refusal.RATE_LIMITED)
    assert retried(Refusal.SERVER_ERROR)
    assert not any(retried(r) for r in Refusal
                   if r not in (Refusal.RATE_LIMITED, Refusal.SERVER_ERROR))
    assert not retried(None)
