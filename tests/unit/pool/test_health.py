"""`pool/health.py` pinned with exact values: the score formula term by term, the latency
moving average, the window, the back-off schedule and the forget boundary."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from proxyfleet.core.proxies import Anonymity, ProxyStatus
from proxyfleet.pool.health import (
    HealthBefore,
    Schedule,
    after_round,
    forgotten,
    next_check,
    push_outcome,
    score,
    smoothed_latency,
    uptime_fraction,
)

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SCHEDULE = Schedule()


def test_each_term_of_the_score_has_its_weight() -> None:
    assert score(1.0, None, None, None, NOW) == 0.5
    assert score(0.0, 0.0, None, None, NOW) == 0.25
    assert score(0.0, None, Anonymity.ELITE, None, NOW) == 0.15
    assert score(0.0, None, None, NOW, NOW) == 0.1
    assert score(1.0, 0.0, Anonymity.ELITE, NOW, NOW) == 1.0
    assert score(0.0, None, None, None, NOW) == 0.0


def test_latency_counts_one_over_one_plus_ms_over_500() -> None:
    assert score(0.0, 500.0, None, None, NOW) == 0.125
    assert score(0.0, 2000.0, None, None, NOW) == 0.05
    assert score(0.0, 250.0, None, None, NOW) == round(0.25 / 1.5, 4)
    assert score(0.0, 5000.0, None, None, NOW) < score(0.0, 500.0, None, None, NOW)


def test_anonymity_raises_the_score_by_its_value() -> None:
    base = score(0.5, 500.0, None, NOW, NOW)
    assert score(0.5, 500.0, Anonymity.ELITE, NOW, NOW) == round(base + 0.15, 4)
    assert score(0.5, 500.0, Anonymity.ANONYMOUS, NOW, NOW) == round(base + 0.09, 4)
    assert score(0.5, 500.0, Anonymity.TRANSPARENT, NOW, NOW) == round(base + 0.03, 4)
    # Unclassified never scores like elite.
    assert base < score(0.5, 500.0, Anonymity.TRANSPARENT, NOW, NOW)


def test_freshness_decays_over_an_hour() -> None:
    an_hour_ago = NOW - timedelta(minutes=60)
    assert score(0.0, None, None, an_hour_ago, NOW) == round(0.1 * math.exp(-1), 4)
    assert score(0.0, None, None, NOW - timedelta(minutes=30), NOW) == round(
        0.1 * math.exp(-0.5), 4)
    assert score(0.0, None, None, NOW + timedelta(minutes=5), NOW) == 0.1  # clock skew


def test_the_latency_average_weighs_the_newest_sample_three_tenths() -> None:
    assert smoothed_latency(None, 100.0) == 100.0
    assert smoothed_latency(100.0, None) == 100.0
    assert smoothed_latency(None, None) is None
    assert smoothed_latency(100.0, 200.0) == pytest.approx(130.0)
    assert smoothed_latency(200.0, 100.0) == pytest.approx(170.0)


def test_the_window_keeps_the_latest_rounds() -> None:
    assert push_outcome("", True, 3) == "1"
    assert push_outcome("110", False, 3) == "100"
    assert push_outcome("10", True, 3) == "101"
    assert uptime_fraction("") == 0.0
    assert uptime_fraction("1101") == 0.75


def test_alive_proxies_come_back_after_ten_minutes_failing_ones_back_off() -> None:
    assert next_check(True, 0, NOW, SCHEDULE) == NOW + timedelta(minutes=10)
    assert next_check(True, 7, NOW, SCHEDULE) == NOW + timedelta(minutes=10)
    assert next_check(False, 1, NOW, SCHEDULE) == NOW + timedelta(minutes=5)
    assert next_check(False, 2, NOW, SCHEDULE) == NOW + timedelta(minutes=10)
    assert next_check(False, 3, NOW, SCHEDULE) == NOW + timedelta(minutes=20)
    assert next_check(False, 9, NOW, SCHEDULE) == NOW + timedelta(minutes=5 * 256)
    assert next_check(False, 10, NOW, SCHEDULE) == NOW + timedelta(hours=24)
    assert next_check(False, 500, NOW, SCHEDULE) == NOW + timedelta(hours=24)
    assert next_check(False, 0, NOW, SCHEDULE) == NOW + timedelta(minutes=5)


def _before(**changes: object) -> HealthBefore:
    fields: dict[str, object] = {"window": "10", "avg_latency_ms": 100.0,
                                 "consecutive_failures": 3, "last_alive_at": None,
                                 "anonymity": None}
    return HealthBefore(**(fields | changes))  # type: ignore[arg-type]


def test_an_alive_round() -> None:
    after = after_round(_before(), True, 200.0, Anonymity.ANONYMOUS, NOW, 4, SCHEDULE)
    assert after.status is ProxyStatus.ACTIVE
    assert after.window == "101"
    assert after.uptime_pct == 66.67
    assert after.avg_latency_ms == pytest.approx(130.0)
    assert after.consecutive_failures == 0  # reset by an alive round
    assert after.last_alive_at == NOW
    assert after.next_check_at == NOW + timedelta(minutes=10)
    expected = 0.5 * (2 / 3) + 0.25 / (1 + 130.0 / 500) + 0.15 * 0.6 + 0.1
    assert after.score == round(expected, 4)


def test_a_failed_round() -> None:
    earlier = NOW - timedelta(hours=2)
    after = after_round(_before(last_alive_at=earlier, anonymity=Anonymity.ELITE), False,
                        50.0, None, NOW, 4, SCHEDULE)
    assert after.status is ProxyStatus.DEAD
    assert after.window == "100"
    assert after.avg_latency_ms == 100.0  # a dead round's latency is not a sample
    assert after.consecutive_failures == 4
    assert after.last_alive_at == earlier
    assert after.next_check_at == NOW + timedelta(minutes=40)
    expected = 0.5 / 3 + 0.25 / 1.2 + 0.15 + 0.1 * math.exp(-2)
    assert after.score == round(expected, 4)


def test_forgetting_is_after_the_boundary_never_at_it() -> None:
    week = timedelta(days=7)
    dead = ProxyStatus.DEAD
    assert not forgotten(dead, NOW - week, NOW - 2 * week, NOW, SCHEDULE)
    assert forgotten(dead, NOW - week - timedelta(seconds=1), NOW - 2 * week, NOW, SCHEDULE)
    assert forgotten(dead, None, NOW - week - timedelta(seconds=1), NOW, SCHEDULE)
    assert not forgotten(dead, None, NOW - week, NOW, SCHEDULE)
    assert not forgotten(ProxyStatus.ACTIVE, None, NOW - 2 * week, NOW, SCHEDULE)
    assert not forgotten(dead, NOW - timedelta(days=1), NOW - 2 * week, NOW, SCHEDULE)
