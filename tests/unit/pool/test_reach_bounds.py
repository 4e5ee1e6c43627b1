"""POST /proxies/test's bounds: the limiter's refusals as RateLimited (the limiter itself is
tested in tests/unit/core/test_limits.py), and the public-address rule for non-admins."""

from __future__ import annotations

import uuid

import pytest

from proxyfleet.core.errors import RateLimited
from proxyfleet.core.limits import Caps, MemoryLimiter
from proxyfleet.pool.reach_bounds import (
    ReachBounds,
    TargetNotAllowed,
    is_public,
    refuse_unless_public,
)

ALICE = uuid.uuid4()


async def test_a_test_over_the_rate_is_refused_with_when_to_come_back() -> None:
    bounds = ReachBounds(MemoryLimiter(Caps(at_once=5, per_minute=60)))
    async with bounds.held(ALICE, 60):
        pass
    with pytest.raises(RateLimited) as refused:
        async with bounds.held(ALICE, 2):
            pass
    assert refused.value.details["fetches_per_minute"] == 60
    assert 1.0 < refused.value.details["retry_after_seconds"] <= 2.0


async def test_tests_at_once_are_bounded_and_freed_when_done() -> None:
    bounds = ReachBounds(MemoryLimiter(Caps(at_once=2, per_minute=1000)))
    async with bounds.held(ALICE, 1), bounds.held(ALICE, 1):
        with pytest.raises(RateLimited) as refused:
            async with bounds.held(ALICE, 1):
                pass
        assert refused.value.details["concurrent"] == 2
    with pytest.raises(ValueError, match="boom"):
        async with bounds.held(ALICE, 1):
            raise ValueError("boom")
    async with bounds.held(ALICE, 1), bounds.held(ALICE, 1):  # a failed test frees its place
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
