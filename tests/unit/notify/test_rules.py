from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from proxyfleet.core.events import EventName, credit_events
from proxyfleet.notify.rules import Backoff, Hysteresis, matches, subscribed, valid_pattern


@pytest.mark.parametrize(("pattern", "name", "expected"), [
    ("*", "proxy.pool_low", True),
    ("credits.*", "credits.low", True),
    ("credits.*", "credits.exhausted", True),
    ("credits.*", "creditsx.low", False),
    ("proxy.pool_low", "proxy.pool_low", True),
    ("proxy.pool_low", "proxy.pool_recovered", False),
    ("source.*", "proxy.pool_low", False),
])
def test_patterns_match_event_names(pattern: str, name: str, expected: bool) -> None:
    assert matches(pattern, name) is expected


def test_subscribed_to_any_pattern() -> None:
    assert subscribed(["source.*", "credits.low"], "credits.low")
    assert not subscribed([], "credits.low")


@pytest.mark.parametrize("pattern", ["*", "credits.*", "proxy.pool_low", "shop.sync_failed"])
def test_valid_patterns(pattern: str) -> None:
    assert valid_pattern(pattern)


@pytest.mark.parametrize("pattern", ["", "**", "credits", "credits.*.*", "*.low", "Proxy.X",
                                     "a b.c"])
def test_invalid_patterns(pattern: str) -> None:
    assert not valid_pattern(pattern)


def test_backoff_doubles_up_to_the_longest_and_gives_up() -> None:
    backoff = Backoff(timedelta(seconds=10), timedelta(seconds=60), 5)
    assert [backoff.delay(n).total_seconds() for n in range(1, 6)] == [10, 20, 40, 60, 60]
    assert not backoff.gives_up(4)
    assert backoff.gives_up(5)


def test_hysteresis_does_not_flap_around_the_low_line() -> None:
    rule = Hysteresis(low=10, recover=15)
    state = False
    seen = []
    for active in [12, 9, 11, 9, 14, 15, 9]:
        state = rule.next_state(state, active)
        seen.append(state)
    assert seen == [False, True, True, True, True, False, True]


def test_credit_events_fire_on_the_crossing_only() -> None:
    user = uuid.uuid4()
    assert [e.name for e in credit_events(user, 10, 9, 10)] == [EventName.CREDITS_LOW]
    assert credit_events(user, 9, 8, 10) == []
    assert [e.name for e in credit_events(user, 1, 0, 10)] == [EventName.CREDITS_EXHAUSTED]
    assert credit_events(user, 0, 5, 10) == []
    assert credit_events(user, 10, 9, 0) == []
    low = credit_events(user, 12, 3, 10)[0]
    assert low.payload == {"user_id": str(user), "balance": 3, "threshold": 10}
