import uuid
from datetime import UTC, datetime

from proxyfleet.accounts.principals import PrincipalCache
from proxyfleet.core.accounts import Principal, Role, User


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _principal() -> Principal:
    user = User(uuid.uuid4(), "a@example.com", "a", Role.USER, datetime(2026, 1, 1, tzinfo=UTC))
    return Principal(user, uuid.uuid4())


def test_a_verified_key_is_remembered_for_the_cache_time_only() -> None:
    clock = FakeClock()
    cache = PrincipalCache(1.0, clock=clock)
    principal = _principal()
    cache.put("digest", principal, cache.revocations)

    clock.now += 0.99
    assert cache.get("digest") is principal
    clock.now += 0.01
    assert cache.get("digest") is None
    assert len(cache) == 0


def test_a_revoked_key_is_forgotten_at_once_and_others_are_kept() -> None:
    cache = PrincipalCache(60.0, clock=FakeClock())
    revoked, kept = _principal(), _principal()
    cache.put("revoked", revoked, cache.revocations)
    cache.put("kept", kept, cache.revocations)

    cache.forget_key(revoked.key_id)

    assert cache.get("revoked") is None
    assert cache.get("kept") is kept


def test_a_look_up_that_raced_a_revocation_is_not_remembered() -> None:
    cache = PrincipalCache(60.0, clock=FakeClock())
    principal = _principal()
    before_look_up = cache.revocations

    cache.forget_key(principal.key_id)  # revoked while the database answered
    cache.put("digest", principal, before_look_up)

    assert cache.get("digest") is None


def test_a_zero_cache_time_remembers_nothing() -> None:
    cache = PrincipalCache(0, clock=FakeClock())
    cache.put("digest", _principal(), cache.revocations)
    assert cache.get("digest") is None


def test_the_cache_stays_within_its_capacity() -> None:
    clock = FakeClock()
    cache = PrincipalCache(1.0, clock=clock, capacity=3)
    for n in range(3):
        cache.put(f"old-{n}", _principal(), cache.revocations)
    clock.now += 5
    cache.put("new", _principal(), cache.revocations)
    assert len(cache) == 1  # the expired three made room

    for n in range(5):
        cache.put(f"fresh-{n}", _principal(), cache.revocations)
    assert len(cache) <= 3
