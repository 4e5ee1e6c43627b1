"""The dashboard's store picks by the server's rules (issue 18): states drawn from a seeded
generator run through the server's pure rotation rules (`pool/rotation_rules.py`) and, with
Node.js, through the store's (`frontend/src/lib/rotation.js`, by
`frontend/scripts/rotation-outcomes.mjs`); both must give the same outcome for every state,
so a rule changed on one side only fails here.

A state is what both sides know of a proxy: enabled, checker status, own hourly budget,
requests this hour and in all, failures, consecutive errors with their cool-off (and a
probation request out), the checker's score and health window; the settings; the strategy
asked for and the sticky key; where round robin stands and what the key holds. The outcome:
the proxies that may be handed out, each one's score (the weight of `weighted`), the
strategy used, the pick (not for `weighted`, a draw) and where round robin and the key
stand after it.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from proxyfleet.core.proxies import ProxyAddress, ProxyFilter, ProxyProtocol
from proxyfleet.core.rotation import Candidate, RotationSettings, Strategy, Want, hour_of
from proxyfleet.pool.rotation_rules import (
    PROBATION_SECONDS,
    Availability,
    Chooser,
    Group,
    Live,
    admissible,
    availability,
    score,
)

OUTCOMES_SCRIPT = Path(__file__).parents[3] / "frontend" / "scripts" / "rotation-outcomes.mjs"
COUNT = 400
SEED = 18
NOW = datetime(2026, 12, 7, 9, 30, 15, tzinfo=UTC)
MONOTONIC = 1000.0
STATUSES = ["active", "active", "active", "dead", "unchecked"]


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _proxy(rng: random.Random, number: int, settings: RotationSettings) -> dict[str, Any]:
    """One proxy as the store holds it, with the store's cool-off entry and history."""
    total = rng.choice([0, 0, 3, 10, 50])
    errors = rng.choice([0, 0, 0, 1, settings.error_threshold - 1, settings.error_threshold,
                         settings.error_threshold + 2])
    cooling = None
    if errors >= settings.error_threshold:
        # Both sides start a cool-off when errors reach the threshold: it is over, or not;
        # once over, a probation request may be out (for the next PROBATION_SECONDS).
        over = rng.random() < 0.6
        until = NOW + timedelta(seconds=-rng.randint(1, 600) if over else rng.randint(1, 600))
        cooling = {"until": _ms(until)}
        if over and rng.random() < 0.4:
            cooling["probing"] = _ms(NOW + timedelta(seconds=rng.randint(1, 29)))
    return {
        "id": number, "ip": f"10.0.{number // 250}.{number % 250 + 1}", "port": 8000 + number,
        "is_active": rng.random() < 0.85, "status": rng.choice(STATUSES),
        "hourly_budget": rng.choice([None, None, None, 1, 3, 8]),
        "requests_this_hour": rng.choice([0, 0, 1, 2, 4, 9]),
        "total_requests": total, "failed_requests": rng.randint(0, total),
        "error_count": errors, "score": round(rng.random(), 3),
        "health_window": "".join(rng.choice("0111") for _ in range(rng.randint(0, 30))),
        "cooling": cooling,
    }


def _state(rng: random.Random) -> dict[str, Any]:
    settings = {
        "strategy": rng.choice([s.value for s in Strategy]),
        "health_window": rng.choice([1, 5, 20]),
        "hourly_budget": rng.choice([None, None, 2, 5]),
        "error_threshold": rng.choice([1, 3, 5]),
        "cooloff_seconds": rng.choice([0, 60, 300]),
    }
    rotation = RotationSettings(**{**settings, "strategy": Strategy(settings["strategy"])})
    proxies = [_proxy(rng, number, rotation) for number in
               rng.sample(range(1, 60), rng.randint(0, 12))]
    ids = [p["id"] for p in proxies]
    strategy = rng.choice([None, *[s.value for s in Strategy]])
    key = rng.choice([None, "acct-1"]) if strategy in (None, "sticky") else None
    sticky = {"acct-1": rng.choice(ids)} if key and ids and rng.random() < 0.7 else {}
    cursor = rng.choice([None, *ids, 60]) if ids else None
    return {"settings": settings, "now": _ms(NOW), "strategy": strategy, "key": key,
            "cursor": cursor, "sticky": sticky, "proxies": proxies}


def _candidate(proxy: dict[str, Any]) -> Candidate:
    return Candidate(
        proxy_id=uuid.UUID(int=proxy["id"]), number=proxy["id"],
        address=ProxyAddress(proxy["ip"], proxy["port"], ProxyProtocol.HTTP), shared=False,
        anonymity=None, country=None, checker_score=proxy["score"], avg_latency_ms=None,
        uptime_pct=None, last_checked_at=None, health_window=proxy["health_window"],
        hourly_budget=proxy["hourly_budget"], total_requests=proxy["total_requests"],
        failed_requests=proxy["failed_requests"],
        requests_this_hour=proxy["requests_this_hour"], requests_hour=hour_of(NOW),
        error_count=proxy["error_count"], cooling_until=None)


def _live(proxy: dict[str, Any]) -> Live:
    cooling = proxy["cooling"] or {}
    until = cooling.get("until")
    probing = cooling.get("probing")
    return Live(hour=hour_of(NOW), used=proxy["requests_this_hour"],
                errors=proxy["error_count"],
                cooling_until=None if until is None else datetime.fromtimestamp(until / 1000,
                                                                                 UTC),
                probation_until=MONOTONIC + PROBATION_SECONDS / 2 if probing else 0.0)


def server_outcome(state: dict[str, Any]) -> dict[str, Any]:
    """What the server's rules make of the state: the proxies that may be handed out, each
    one's weight (its score) and the pick (None for `weighted`, a draw), with where round
    robin stands and what the key holds after it."""
    raw = state["settings"]
    settings = RotationSettings(**{**raw, "strategy": Strategy(raw["strategy"])})
    # The snapshot holds the healthy, enabled proxies only.
    snapshot = [_candidate(p) for p in state["proxies"]
                if p["is_active"] and p["status"] == "active"]
    lives = {uuid.UUID(int=p["id"]): _live(p) for p in state["proxies"]}
    want = Want(filter=ProxyFilter(), include_private=True, key=state["key"],
                strategy=Strategy(state["strategy"]) if state["strategy"] else None)
    strategy = want.effective_strategy or settings.strategy

    def usable(candidate: Candidate) -> bool:
        return admissible(candidate, want) and availability(
            candidate, lives[candidate.proxy_id], settings, NOW, MONOTONIC
        ) is not Availability.NO

    group = Group.of(snapshot, lambda c: score(c, settings))
    chooser = Chooser(rng=random.Random(0))
    cursor = "cursor"
    if state["cursor"] is not None:
        chooser._last[cursor] = uuid.UUID(int=state["cursor"])
    for key, held in state["sticky"].items():
        chooser._sticky[key] = (uuid.UUID(int=held), float("inf"))
    allowed = [c for c in group.members if usable(c)]
    picked = chooser.choose(group, strategy, usable, cursor=cursor, key=want.key,
                            monotonic=MONOTONIC, usage=lambda c: lives[c.proxy_id].used)
    last = chooser._last.get(cursor)
    held = chooser.held_by(want.key) if want.key else None
    return {
        "strategy": strategy.value,
        "candidates": [c.number for c in allowed],
        "scores": {str(c.number): score(c, settings) for c in allowed},
        "pick": None if strategy is Strategy.WEIGHTED or picked is None else picked.number,
        "cursor": None if last is None else last.int,
        "sticky": None if held is None else held.int,
    }


def cases() -> list[dict[str, Any]]:
    rng = random.Random(SEED)
    made = []
    for _ in range(COUNT):
        state = _state(rng)
        made.append(state | {"expected": server_outcome(state)})
    return made


def store_outcomes(states: list[dict[str, Any]]) -> list[dict[str, Any]]:
    node = shutil.which("node")
    assert node, "Node.js runs the dashboard's rules (make test needs it for the dashboard too)"
    done = subprocess.run([node, str(OUTCOMES_SCRIPT)], input=json.dumps(states),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    found: list[dict[str, Any]] = json.loads(done.stdout)
    return found


def test_the_store_picks_as_the_server_does() -> None:
    made = cases()
    states = [{k: v for k, v in case.items() if k != "expected"} for case in made]
    differ = []
    for state, server, store in zip(states, (c["expected"] for c in made),
                                    store_outcomes(states), strict=True):
        store["scores"] = {k: pytest.approx(v, abs=1e-12) for k, v in store["scores"].items()}
        if store != server:
            differ.append((state, server, store))
    assert not differ, (f"{len(differ)} of {len(made)} states differ; the first: "
                        f"{json.dumps(differ[0][0])}\nserver: {differ[0][1]}\n"
                        f"store: {differ[0][2]}")


def test_the_cases_reach_every_rule() -> None:
    """Every strategy picks, some proxy is out for each reason, and ties and empty pools
    happen: the cases test what they claim to."""
    made = cases()
    outcomes = [c["expected"] for c in made]
    assert {o["strategy"] for o in outcomes if o["pick"] is not None} == {
        "round_robin", "least_used", "sticky"}
    assert any(o["strategy"] == "weighted" and o["candidates"] for o in outcomes)
    assert any(o["candidates"] == [] for o in outcomes)
    proxies = [(p, c) for c in made for p in c["proxies"]
               if p["is_active"] and p["status"] == "active"]
    out = [(p, c) for p, c in proxies if p["id"] not in c["expected"]["candidates"]]
    assert any(p["cooling"] and "probing" in p["cooling"] for p, _ in out)
    assert any(p["cooling"] and p["cooling"]["until"] > c["now"] for p, c in out)
    assert any(p["requests_this_hour"] >= (p["hourly_budget"] or 10**9) for p, _ in out)
    back = [(p, c) for p, c in proxies if p["id"] in c["expected"]["candidates"]]
    assert any(p["cooling"] and "probing" not in p["cooling"] for p, _ in back)  # probation
    assert any(c["strategy"] is None and c["key"] for c in made)  # a key alone: sticky
    assert any(c["settings"]["strategy"] == "sticky" and c["key"] is None
               and c["strategy"] is None and c["expected"]["pick"] for c in made)

