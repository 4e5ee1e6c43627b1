"""Per-user caps and the usage tally, on a clock the test turns."""

from __future__ import annotations

import uuid

from proxyfleet.core.gateway import Usage
from proxyfleet.rotating.limits import UsageTally, UserLimits

ALICE, BOB = uuid.uuid4(), uuid.uuid4()


def test_connections_are_capped_per_user_and_given_back() -> None:
    limits = UserLimits(max_connections=2, per_minute=0)
    assert limits.open(ALICE) and limits.open(ALICE)
    assert not limits.open(ALICE)
    assert limits.open(BOB)
    limits.close(ALICE)
    assert limits.open(ALICE)
    assert limits.open_connections(ALICE) == 2


def test_requests_per_minute_start_over_each_minute() -> None:
    now = [120.0]
    limits = UserLimits(max_connections=0, per_minute=3, clock=lambda: now[0])
    assert [limits.start_request(ALICE) for _ in range(4)] == [True, True, True, False]
    assert limits.start_request(BOB)
    now[0] = 179.9
    assert not limits.start_request(ALICE)
    now[0] = 180.0
    assert limits.start_request(ALICE)


def test_zero_means_no_cap() -> None:
    limits = UserLimits(max_connections=0, per_minute=0)
    assert all(limits.open(ALICE) and limits.start_request(ALICE) for _ in range(10_000))


def test_the_tally_drains_and_restores() -> None:
    tally = UsageTally()
    counts = tally.counts(ALICE)
    counts[0] += 2
    counts[2] += 100
    assert tally.pending(ALICE) == Usage(ALICE, 2, 0, 100)
    batch = tally.drain()
    assert batch == [Usage(ALICE, 2, 0, 100)]
    assert tally.pending(ALICE) == Usage(ALICE)
    tally.counts(ALICE)[1] += 5
    tally.restore(batch)
    assert tally.pending(ALICE) == Usage(ALICE, 2, 5, 100)
