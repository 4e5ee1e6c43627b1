"""The rotation rules: who may be handed out, and what each strategy chooses."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from proxyfleet.core.proxies import ProxyAddress, ProxyFilter, ProxyProtocol
from proxyfleet.core.rotation import Candidate, Outcomes, RotationSettings, Strategy, Want
from proxyfleet.pool.rotation_rules import (
    Availability,
    Chooser,
    Group,
    Live,
    admissible,
    availability,
    score,
    window_uptime,
)

NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


def candidate(index: int, *, shared: bool = True, checker_score: float = 0.5,
              country: str | None = None, budget: int | None = None,
              protocol: ProxyProtocol = ProxyProtocol.HTTP) -> Candidate:
    return Candidate(
        proxy_id=uuid.UUID(int=index + 1), number=index + 1,
        address=ProxyAddress(f"10.0.0.{index % 250 + 1}", 8000 + index, protocol),
        shared=shared, anonymity=None, country=country, checker_score=checker_score,
        avg_latency_ms=None, uptime_pct=None, last_checked_at=None, health_window="",
        hourly_budget=budget, total_requests=0, failed_requests=0, requests_this_hour=0,
        requests_hour=0, error_count=0, cooling_until=None)


lives = st.builds(
    Live, hour=st.just(0), used=st.integers(0, 20), errors=st.integers(0, 10),
    cooling_until=st.one_of(st.none(), st.sampled_from(
        [NOW - timedelta(seconds=1), NOW + timedelta(seconds=1)])),
    probation_until=st.sampled_from([0.0, 100.0]))
rotation_settings = st.builds(
    RotationSettings, hourly_budget=st.one_of(st.none(), st.integers(0, 20)),
    error_threshold=st.integers(1, 10), cooloff_seconds=st.just(60.0))


@given(lives, rotation_settings, st.one_of(st.none(), st.integers(0, 20)))
def test_never_a_proxy_over_budget_or_cooling(live: Live, rules: RotationSettings,
                                               own_budget: int | None) -> None:
    proxy = candidate(0, budget=own_budget)
    state = availability(proxy, live, rules, NOW, monotonic=50.0)
    budget = own_budget if own_budget is not None else rules.hourly_budget
    if budget is not None and live.used >= budget:
        assert state is Availability.NO
    if live.errors >= rules.error_threshold:
        cooling = live.cooling_until is not None and live.cooling_until > NOW
        probation_out = live.probation_until > 50.0
        assert state is (Availability.NO if cooling or probation_out
                         or (budget is not None and live.used >= budget)
                         else Availability.PROBATION)
    elif budget is None or live.used < budget:
        assert state is Availability.YES


def test_a_cooled_off_proxy_gets_one_probation_then_waits_for_its_outcome() -> None:
    rules = RotationSettings(error_threshold=3)
    live = Live(0, errors=3, cooling_until=NOW - timedelta(seconds=1))
    assert availability(candidate(0), live, rules, NOW, 10.0) is Availability.PROBATION
    live.probation_until = 40.0
    assert availability(candidate(0), live, rules, NOW, 10.0) is Availability.NO
    assert availability(candidate(0), live, rules, NOW, 41.0) is Availability.PROBATION


@given(st.lists(st.booleans(), min_size=1, max_size=30), st.booleans())
def test_private_proxies_only_for_who_may_have_them(shared: list[bool],
                                                     include_private: bool) -> None:
    proxies = [candidate(i, shared=s) for i, s in enumerate(shared)]
    want = Want(include_private=include_private)
    group = Group.of([p for p in proxies if admissible(p, want)], lambda c: 1.0)
    chooser = Chooser(random.Random(1))
    for strategy in Strategy:
        picked = chooser.choose(group, strategy, lambda c: True, key="k")
        if picked is not None:
            assert picked.shared or include_private
        else:
            assert not any(s or include_private for s in shared)


OWNERS = [uuid.UUID(int=7), uuid.UUID(int=8)]


@given(st.lists(st.sampled_from([None, *OWNERS]), min_size=1, max_size=20),
       st.sampled_from([None, *OWNERS]), st.booleans(), st.booleans())
def test_a_bought_proxy_goes_to_its_owner_alone(owners: list[uuid.UUID | None],
                                                asking: uuid.UUID | None,
                                                include_private: bool, named: bool) -> None:
    proxies = [replace(candidate(i, shared=i % 2 == 0), owner=owner)
               for i, owner in enumerate(owners)]
    among = frozenset(p.proxy_id for p in proxies) if named else None
    want = Want(include_private=include_private, owner=asking, among=among)
    for proxy in proxies:
        if proxy.owner is not None:
            assert admissible(proxy, want) is (proxy.owner == asking)
        else:
            assert admissible(proxy, want) is (proxy.shared or include_private)


@given(st.integers(1, 40), st.sets(st.integers(0, 39)), st.integers(1, 3))
@settings(max_examples=60)
def test_round_robin_visits_every_usable_proxy_once_before_any_twice(
        size: int, unusable: set[int], rounds: int) -> None:
    proxies = [candidate(i) for i in range(size)]
    group = Group.of(proxies, lambda c: 1.0)
    usable_ids = {p.proxy_id for i, p in enumerate(proxies) if i not in unusable}
    chooser = Chooser()
    picks = [chooser.round_robin(group, lambda c: c.proxy_id in usable_ids, "cursor")
             for _ in range(len(usable_ids) * rounds)]
    if not usable_ids:
        assert picks == []
        return
    ids = [p.proxy_id for p in picks if p is not None]
    for start in range(0, len(ids), len(usable_ids)):
        assert set(ids[start:start + len(usable_ids)]) == usable_ids


@given(st.lists(st.floats(0.05, 1.0), min_size=2, max_size=6), st.integers(0, 1000))
@settings(max_examples=25, deadline=None)
def test_weighted_follows_the_scores(scores: list[float], seed: int) -> None:
    proxies = [candidate(i, checker_score=s) for i, s in enumerate(scores)]
    group = Group.of(proxies, lambda c: c.checker_score)
    chooser = Chooser(random.Random(seed))
    draws = 6000
    counts = Counter(chooser.weighted(group, lambda c: True).proxy_id  # type: ignore[union-attr]
                     for _ in range(draws))
    total = sum(scores)
    for proxy in proxies:
        expected = draws * proxy.checker_score / total
        # Six standard deviations of a binomial draw: fails only when the weights are off.
        spread = 6 * (expected * (1 - proxy.checker_score / total)) ** 0.5 + 1
        assert abs(counts[proxy.proxy_id] - expected) <= spread


def test_weighted_never_hands_out_an_unusable_proxy_even_when_it_weighs_most() -> None:
    proxies = [candidate(0, checker_score=1.0), candidate(1, checker_score=0.001)]
    group = Group.of(proxies, lambda c: c.checker_score)
    chooser = Chooser(random.Random(3))
    for _ in range(200):
        picked = chooser.weighted(group, lambda c: c.proxy_id == proxies[1].proxy_id)
        assert picked is proxies[1]


@given(st.lists(st.tuples(st.sampled_from("abcde"), st.sets(st.integers(0, 7))),
                min_size=1, max_size=40))
def test_sticky_keys_stay_put_while_their_proxy_is_usable(
        steps: list[tuple[str, set[int]]]) -> None:
    proxies = [candidate(i) for i in range(8)]
    group = Group.of(proxies, lambda c: 1.0)
    chooser = Chooser()
    held: dict[str, uuid.UUID] = {}
    for key, dead in steps:
        dead_ids = frozenset(proxies[i].proxy_id for i in dead)
        picked = chooser.sticky(group, lambda c, gone=dead_ids: c.proxy_id not in gone, key,
                                0.0, None, "cursor")
        if len(dead_ids) == len(proxies):
            assert picked is None
            continue
        assert picked is not None and picked.proxy_id not in dead_ids
        if key in held and held[key] not in dead_ids:
            assert picked.proxy_id == held[key]
        held[key] = picked.proxy_id


def test_a_sticky_key_lapses_after_its_time() -> None:
    proxies = [candidate(i) for i in range(3)]
    group = Group.of(proxies, lambda c: 1.0)
    chooser = Chooser()
    first = chooser.sticky(group, lambda c: True, "k", 0.0, 10.0, "a")
    assert chooser.sticky(group, lambda c: True, "k", 9.0, 10.0, "a") is first
    # Asked at 9 s, it holds until 19 s; at 30 s it has lapsed and moves on.
    assert chooser.sticky(group, lambda c: True, "k", 30.0, 10.0, "a") is not first


def test_least_used_takes_the_fewest_requests_this_hour() -> None:
    proxies = [candidate(i) for i in range(4)]
    used = {proxies[0].proxy_id: 5, proxies[1].proxy_id: 2, proxies[2].proxy_id: 9,
            proxies[3].proxy_id: 2}
    group = Group.of(proxies, lambda c: 1.0)
    picked = Chooser.least_used(group, lambda c: c is not proxies[1],
                                lambda c: used[c.proxy_id])
    assert picked is proxies[3]


def test_filters_and_exclusions_are_honoured() -> None:
    us = candidate(0, country="US", protocol=ProxyProtocol.SOCKS5)
    de = candidate(1, country="DE")
    assert admissible(us, Want(filter=ProxyFilter(country="US")))
    assert not admissible(de, Want(filter=ProxyFilter(country="US")))
    assert not admissible(de, Want(filter=ProxyFilter(protocol=ProxyProtocol.SOCKS5)))
    assert not admissible(us, Want(exclude=frozenset({us.proxy_id})))
    assert not admissible(us, Want(among=frozenset({de.proxy_id})))


def test_score_weighs_health_over_the_window_by_real_traffic() -> None:
    proxy = candidate(0, checker_score=0.9)
    assert score(proxy, RotationSettings()) == 0.9  # no history: the checker's score
    windowed = Candidate(**{**_fields(proxy), "health_window": "0000" + "1111",
                            "total_requests": 9, "failed_requests": 4})
    assert window_uptime("00001111", 4) == 1.0
    assert score(windowed, RotationSettings(health_window=4)) == 0.6
    assert score(windowed, RotationSettings(health_window=8)) == 0.3


def _fields(proxy: Candidate) -> dict[str, object]:
    return {name: getattr(proxy, name) for name in Candidate.__dataclass_fields__}


@given(st.lists(st.booleans(), max_size=30), st.integers(0, 30))
def test_outcomes_fold_like_counting_one_by_one(outcomes: list[bool], split: int) -> None:
    whole, first, second = Outcomes(uuid.UUID(int=1), 0), Outcomes(uuid.UUID(int=1), 0), \
        Outcomes(uuid.UUID(int=1), 0)
    for index, ok in enumerate(outcomes):
        whole.add(ok)
        (first if index < split else second).add(ok)
    first.merge(second)
    assert first == whole
    errors = 0
    for ok in outcomes:
        errors = 0 if ok else errors + 1
    assert whole.tail == errors


@given(st.integers(1, 30), st.lists(st.sets(st.integers(0, 29), max_size=5), max_size=60))
@settings(max_examples=60)
def test_least_used_queue_agrees_with_a_full_scan(size: int,
                                                  unusable_each_pick: list[set[int]]) -> None:
    proxies = [candidate(i) for i in range(size)]
    group = Group.of(proxies, lambda c: 1.0)
    used = {p.proxy_id: 0 for p in proxies}
    for unusable in unusable_each_pick:
        blocked = frozenset(proxies[i].proxy_id for i in unusable if i < size)

        def usable(c: Candidate, gone: frozenset[uuid.UUID] = blocked) -> bool:
            return c.proxy_id not in gone

        picked = Chooser.least_used(group, usable, lambda c: used[c.proxy_id])
        usable_counts = [used[p.proxy_id] for p in proxies if usable(p)]
        if not usable_counts:
            assert picked is None
            continue
        assert picked is not None and usable(picked)
        assert used[picked.proxy_id] == min(usable_counts)
        used[picked.proxy_id] += 1
