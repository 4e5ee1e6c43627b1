"""POST /proxies/test's bounds: a token bucket of proxy fetches per user, tests at once per
user, and the public-address rule for non-admins."""

from __future__ import annotations

import uuid

import pytest

from proxyfleet.core.errors import RateLimited
from proxyfleet.pool.reach_bounds import (
    ReachBounds,
    TargetNotAllowed,
    is_public,
    refuse_unless_public,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


ALICE, BOB = uuid.uuid4(), uuid.uuid4()


def test_the_bucket_holds_a_minute_of_fetches_and_refills_evenly() -> None:
    clock = Clock()
    bounds = ReachBounds(fetches_per_minute=60, concurrent=5, clock=clock)
    with bounds.held(ALICE, 50):
        pass
    with bounds.held(ALICE, 10):
        pass
    with pytest.raises(RateLimited) as refused, bounds.held(ALICE, 1):
        pass
    assert refused.value.details["retry_after_seconds"] == 1.0
    with bounds.held(BOB, 60):  # each user has a bucket of their own
        pass
    clock.now += 4.999
    with pytest.raises(RateLimited) as refused, bounds.held(ALICE, 5):
        pass
    assert refused.value.details["retry_after_seconds"] == pytest.approx(0.001)
    clock.now += 0.001
    with bounds.held(ALICE, 5):
        pass
    clock.now += 3600  # a long rest fills the bucket, never past its size
    with bounds.held(ALICE, 60):
        pass
    with pytest.raises(RateLimited), bounds.held(ALICE, 1):
        pass


def test_a_refused_test_takes_no_fetches() -> None:
    clock = Clock()
    bounds = ReachBounds(fetches_per_minute=10, concurrent=5, clock=clock)
    with pytest.raises(RateLimited), bounds.held(ALICE, 11):
        pass
    with bounds.held(ALICE, 10):
        pass


def test_tests_at_once_are_bounded_and_freed_when_done() -> None:
    bounds = ReachBounds(fetches_per_minute=1000, concurrent=2, clock=Clock())
    with bounds.held(ALICE, 1), bounds.held(ALICE, 1):
        with pytest.raises(RateLimited) as refused, bounds.held(ALICE, 1):
            pass
        assert refused.value.details["concurrent"] == 2
        with bounds.held(BOB, 1):
            pass
    with bounds.held(ALICE, 1), bounds.held(ALICE, 1):
        pass
    with pytest.raises(ValueError, match="boom"), bounds.held(ALICE, 1):
        raise ValueError("boom")
    with bounds.held(ALICE, 1), bounds.held(ALICE, 1):  # a failed test frees its place too
        pass


@pytest.mark.parametrize(("address", "public"), [
    ("8.8.8.8", True), ("2a00:1450:4001:80b::200e", True),
    ("127.0.0.1", False), ("127.8.9.10", False), ("::1", False), ("10.1.2.3", False),
    ("172.16.0.1", False), ("192.168.1.1", False), ("169.254.169.254", False),
    ("fe80::1", False), ("fe80::1%eth0", False), ("fc00::1", False), ("0.0.0.0", False),
    ("::", False), ("::ffff:127.0.0.1", False), ("::ffff:10.0.0.1", False),
    ("::ffff:8.8.8.8", True), ("100.64.0.1", False), ("224.0.0.1", False),
    ("not an address", False),
])
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public(address) is public


@pytest.mark.parametrize(("host", "resolved"), [
    ("127.0.0.1", []), ("[::1]", []), ("localhost", []), ("api.localhost", []),
    ("LOCALHOST.", []), ("intranet.example", ["10.0.0.5"]),
    ("mixed.example", ["8.8.8.8", "192.168.0.1"]), ("169.254.169.254", []),
])
def test_non_public_targets_are_refused(host: str, resolved: list[str]) -> None:
    with pytest.raises(TargetNotAllowed):
        refuse_unless_public(host, resolved)


@pytest.mark.parametrize(("host", "resolved"), [
    ("8.8.8.8", []), ("example.com", ["93.184.215.14"]), ("unresolvable.example", []),
])
def test_public_targets_pass(host: str, resolved: list[str]) -> None:
    refuse_unless_public(host, resolved)
