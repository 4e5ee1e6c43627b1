"""Pure rules of the checking pipeline's bookkeeping: the health window, the score, and the
adaptive re-check schedule. Imports only `core` and the standard library.

Score (0.0 to 1.0) = 0.50·U + 0.25·L + 0.15·A + 0.10·F, where
  U  uptime: the share of alive rounds in the health window (the latest N rounds);
  L  latency: 1 / (1 + latency_ms / 500): 1.0 at 0 ms, 0.5 at 500 ms, 0.2 at 2 s; 0 unknown;
  A  anonymity: elite 1.0, anonymous 0.6, transparent 0.2, unknown 0;
  F  freshness: exp(-minutes since the last alive round / 60); 0 when never alive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from proxyfleet.core.proxies import Anonymity, ProxyStatus

WEIGHT_UPTIME = 0.50
WEIGHT_LATENCY = 0.25
WEIGHT_ANONYMITY = 0.15
WEIGHT_FRESHNESS = 0.10
LATENCY_HALF_MS = 500.0
FRESHNESS_MINUTES = 60.0
LATENCY_SMOOTHING = 0.3  # weight of the newest sample in the moving average
ANONYMITY_VALUE = {Anonymity.ELITE: 1.0, Anonymity.ANONYMOUS: 0.6, Anonymity.TRANSPARENT: 0.2}


@dataclass(frozen=True, slots=True)
class Schedule:
    healthy: timedelta = timedelta(minutes=10)
    retry_base: timedelta = timedelta(minutes=5)
    retry_max: timedelta = timedelta(hours=24)
    forget_after: timedelta = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class HealthBefore:
    """What the inventory knew of a proxy before this round."""

    window: str
    avg_latency_ms: float | None
    consecutive_failures: int
    last_alive_at: datetime | None
    anonymity: Anonymity | None


@dataclass(frozen=True, slots=True)
class HealthAfter:
    status: ProxyStatus
    window: str
    uptime_pct: float
    avg_latency_ms: float | None
    consecutive_failures: int
    last_alive_at: datetime | None
    score: float
    next_check_at: datetime


def push_outcome(window: str, alive: bool, size: int) -> str:
    return (window + ("1" if alive else "0"))[-size:]


def uptime_fraction(window: str) -> float:
    return window.count("1") / len(window) if window else 0.0


def smoothed_latency(previous: float | None, sample: float | None) -> float | None:
    if sample is None:
        return previous
    if previous is None:
        return sample
    return LATENCY_SMOOTHING * sample + (1 - LATENCY_SMOOTHING) * previous


def score(uptime: float, latency_ms: float | None, anonymity: Anonymity | None,
          last_alive_at: datetime | None, now: datetime) -> float:
    latency = 0.0 if latency_ms is None else 1.0 / (1.0 + latency_ms / LATENCY_HALF_MS)
    freshness = 0.0
    if last_alive_at is not None:
        minutes = max(0.0, (now - last_alive_at).total_seconds() / 60)
        freshness = math.exp(-minutes / FRESHNESS_MINUTES)
    hidden = ANONYMITY_VALUE[anonymity] if anonymity is not None else 0.0
    value = (WEIGHT_UPTIME * uptime + WEIGHT_LATENCY * latency + WEIGHT_ANONYMITY * hidden
             + WEIGHT_FRESHNESS * freshness)
    return round(min(1.0, max(0.0, value)), 4)


def next_check(alive: bool, consecutive_failures: int, now: datetime,
               schedule: Schedule) -> datetime:
    """Healthy proxies every `healthy`; failing ones back off exponentially up to a cap."""
    if alive:
        return now + schedule.healthy
    backoff = schedule.retry_base * (1 << min(max(consecutive_failures - 1, 0), 30))
    return now + min(backoff, schedule.retry_max)


def after_round(before: HealthBefore, alive: bool, latency_ms: float | None,
                anonymity: Anonymity | None, now: datetime, window_size: int,
                schedule: Schedule) -> HealthAfter:
    window = push_outcome(before.window, alive, window_size)
    failures = 0 if alive else before.consecutive_failures + 1
    last_alive = now if alive else before.last_alive_at
    latency = smoothed_latency(before.avg_latency_ms, latency_ms if alive else None)
    known_anonymity = anonymity or before.anonymity
    uptime = uptime_fraction(window)
    return HealthAfter(
        status=ProxyStatus.ACTIVE if alive else ProxyStatus.DEAD, window=window,
        uptime_pct=round(uptime * 100, 2), avg_latency_ms=latency,
        consecutive_failures=failures, last_alive_at=last_alive,
        score=score(uptime, latency, known_anonymity, last_alive, now),
        next_check_at=next_check(alive, failures, now, schedule))


def forgotten(status: ProxyStatus, last_alive_at: datetime | None, first_seen_at: datetime,
              now: datetime, schedule: Schedule) -> bool:
    """A proxy dead for longer than `forget_after` (counting from when it was last alive, or
    first seen when it never was) leaves the inventory."""
    since = last_alive_at or first_seen_at
    return status is ProxyStatus.DEAD and now - since > schedule.forget_after
