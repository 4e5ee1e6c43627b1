"""The rotation rules, pure: which proxies may be handed out now and which one a strategy
chooses. No I/O and no clock of its own: the service (`pool/rotation.py`) passes the time,
the snapshot and what it knows of each proxy's use.

Imports only `core`.
"""

from __future__ import annotations

import bisect
import enum
import heapq
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import accumulate

from proxyfleet.core.proxies import ProxyFilter
from proxyfleet.core.rotation import Candidate, RotationSettings, Strategy, Want

# A weighted draw that lands on a proxy it may not hand out draws again this many times
# before it weighs the admissible ones alone.
WEIGHTED_REDRAWS = 8
# Unusable proxies the least-used queue looks past before it scans the whole group.
LEAST_USED_SKIPS = 64
# Sticky keys remembered at most; the oldest are forgotten first.
STICKY_KEYS = 100_000
# Round-robin cursors remembered at most (one per filter, or per session's own proxy set).
CURSORS = 10_000
# A probation request whose outcome never comes back frees the proxy for another after this.
PROBATION_SECONDS = 30.0


class Availability(enum.Enum):
    YES = "yes"
    PROBATION = "probation"  # cooled off: one request decides whether it rejoins
    NO = "no"


@dataclass(slots=True)
class Live:
    """What this process knows of a proxy's use beyond the snapshot: requests this hour
    (stored, unflushed and handed out), consecutive errors, cool-off, a probation out, and
    its average latency with real traffic's time to first byte folded in."""

    hour: int
    used: int = 0
    errors: int = 0
    cooling_until: datetime | None = None
    probation_until: float = 0.0  # monotonic seconds; a probation request is out until then
    latency_ms: float | None = None


def window_uptime(health_window: str, size: int) -> float | None:
    """Share of the last `size` checker rounds the proxy was alive in (None: no rounds)."""
    recent = health_window[-size:] if size > 0 else ""
    return recent.count("1") / len(recent) if recent else None


def score(candidate: Candidate, settings: RotationSettings) -> float:
    """0.0-1.0: health over the window (the checker's score when there is no history),
    weighed by the success rate of real traffic (1.0 before any)."""
    health = window_uptime(candidate.health_window, settings.health_window)
    base = candidate.checker_score if health is None else health
    succeeded = candidate.total_requests - candidate.failed_requests
    traffic = (succeeded + 1) / (candidate.total_requests + 1)
    return max(0.0, min(1.0, base * traffic))


def matches(candidate: Candidate, wanted: ProxyFilter) -> bool:
    """The pool's filters, in memory (`status` is not one: the snapshot holds healthy ones)."""
    address = candidate.address
    return not (
        (wanted.protocol is not None and address.protocol is not wanted.protocol)
        or (wanted.anonymity is not None and candidate.anonymity is not wanted.anonymity)
        or (wanted.country is not None and candidate.country != wanted.country)
        or (wanted.min_score is not None and candidate.checker_score < wanted.min_score)
        or (wanted.max_latency_ms is not None
            and (candidate.avg_latency_ms is None
                 or candidate.avg_latency_ms > wanted.max_latency_ms))
        or (wanted.min_uptime_pct is not None
            and (candidate.uptime_pct is None or candidate.uptime_pct < wanted.min_uptime_pct))
        or (wanted.verified_since is not None
            and (candidate.last_checked_at is None
                 or candidate.last_checked_at < wanted.verified_since)))


def admissible(candidate: Candidate, want: Want) -> bool:
    """Whether the consumer may have this proxy at all, whatever its use. A bought proxy
    goes to its owner alone."""
    if candidate.owner is not None:
        if candidate.owner != want.owner:
            return False
    elif not (candidate.shared or want.include_private):
        return False
    if want.among is not None and candidate.proxy_id not in want.among:
        return False
    return candidate.proxy_id not in want.exclude and matches(candidate, want.filter)


def budget_of(candidate: Candidate, settings: RotationSettings) -> int | None:
    return candidate.hourly_budget if candidate.hourly_budget is not None \
        else settings.hourly_budget


def availability(candidate: Candidate, live: Live, settings: RotationSettings,
                 now: datetime, monotonic: float) -> Availability:
    """Under its hourly budget, and below the error threshold or cooled off with no
    probation request out."""
    budget = budget_of(candidate, settings)
    if budget is not None and live.used >= budget:
        return Availability.NO
    if live.errors < settings.error_threshold:
        return Availability.YES
    if live.cooling_until is not None and now < live.cooling_until:
        return Availability.NO
    return Availability.NO if monotonic < live.probation_until else Availability.PROBATION


@dataclass(frozen=True, slots=True)
class Group:
    """The candidates one filter admits (ordered by id), with their cumulative weights and
    the least-used queue (a heap of (requests this hour, requests in all, index), kept
    lazily: an entry whose count has grown since is re-filed when it reaches the top)."""

    members: tuple[Candidate, ...]
    ids: tuple[uuid.UUID, ...]
    cumulative: tuple[float, ...]
    queue: list[tuple[int, int, int]] = field(default_factory=list, compare=False)

    @classmethod
    def of(cls, members: Sequence[Candidate], weight: Callable[[Candidate], float]) -> Group:
        ordered = tuple(sorted(members, key=lambda c: c.proxy_id))
        return cls(ordered, tuple(c.proxy_id for c in ordered),
                   tuple(accumulate(max(weight(c), 0.0) for c in ordered)))


Usable = Callable[[Candidate], bool]


@dataclass
class Chooser:
    """The strategies. Keeps what they remember between picks: where each round-robin
    group stands, which proxy each sticky key holds."""

    rng: random.Random = field(default_factory=random.Random)
    _last: dict[object, uuid.UUID] = field(default_factory=dict)
    _sticky: dict[str, tuple[uuid.UUID, float]] = field(default_factory=dict)

    def choose(self, group: Group, strategy: Strategy, usable: Usable, *,
               cursor: object = None, key: str | None = None, monotonic: float = 0.0,
               sticky_seconds: float | None = None,
               usage: Callable[[Candidate], int] = lambda c: c.requests_this_hour,
               ) -> Candidate | None:
        if strategy is Strategy.STICKY and key is not None:
            return self.sticky(group, usable, key, monotonic, sticky_seconds, cursor)
        if strategy is Strategy.WEIGHTED:
            return self.weighted(group, usable)
        if strategy is Strategy.LEAST_USED:
            return self.least_used(group, usable, usage)
        return self.round_robin(group, usable, cursor)

    def round_robin(self, group: Group, usable: Usable, cursor: object) -> Candidate | None:
        """The next usable proxy after the one this cursor last got, in id order: every
        usable proxy once before any twice."""
        count = len(group.members)
        if not count:
            return None
        last = self._last.get(cursor)
        start = 0 if last is None else bisect.bisect_right(group.ids, last)
        for step in range(count):
            candidate = group.members[(start + step) % count]
            if usable(candidate):
                if cursor not in self._last and len(self._last) >= CURSORS:
                    self._last.clear()
                self._last[cursor] = candidate.proxy_id
                return candidate
        return None

    def weighted(self, group: Group, usable: Usable) -> Candidate | None:
        """A draw with chances in proportion to the scores (equal chances if all are 0)."""
        if not group.members:
            return None
        total = group.cumulative[-1]
        if total > 0:
            for _ in range(WEIGHTED_REDRAWS):
                index = bisect.bisect_right(group.cumulative, self.rng.random() * total)
                candidate = group.members[min(index, len(group.members) - 1)]
                if usable(candidate):
                    return candidate
        return self._weighted_among_usable(group, usable)

    def _weighted_among_usable(self, group: Group, usable: Usable) -> Candidate | None:
        pool: list[Candidate] = []
        weights: list[float] = []
        previous = 0.0
        for candidate, cumulative in zip(group.members, group.cumulative, strict=True):
            if usable(candidate):
                pool.append(candidate)
                weights.append(cumulative - previous)
            previous = cumulative
        if not pool:
            return None
        if sum(weights) <= 0:
            return self.rng.choice(pool)
        return self.rng.choices(pool, weights)[0]

    @staticmethod
    def least_used(group: Group, usable: Usable,
                   usage: Callable[[Candidate], int]) -> Candidate | None:
        """The usable proxy with the fewest requests this hour (then fewest in all). Counts
        only grow between snapshots (a pick adds one), so a heap re-filing stale entries
        finds it in O(log n); past LEAST_USED_SKIPS unusable ones it scans them all."""
        queue = group.queue
        if not queue and group.members:
            queue[:] = [(usage(c), c.total_requests, i) for i, c in enumerate(group.members)]
            heapq.heapify(queue)
        aside: list[tuple[int, int, int]] = []
        chosen: Candidate | None = None
        while queue and len(aside) < LEAST_USED_SKIPS:
            used, total, index = queue[0]
            candidate = group.members[index]
            if usage(candidate) != used:
                heapq.heapreplace(queue, (usage(candidate), total, index))
            elif usable(candidate):
                chosen = candidate
                break
            else:
                aside.append(heapq.heappop(queue))
        for entry in aside:
            heapq.heappush(queue, entry)
        if chosen is None and len(aside) >= LEAST_USED_SKIPS:
            return Chooser._least_used_scan(group, usable, usage)
        return chosen

    @staticmethod
    def _least_used_scan(group: Group, usable: Usable,
                         usage: Callable[[Candidate], int]) -> Candidate | None:
        best: Candidate | None = None
        best_key: tuple[int, int] = (0, 0)
        for candidate in group.members:
            if not usable(candidate):
                continue
            key = (usage(candidate), candidate.total_requests)
            if best is None or key < best_key:
                best, best_key = candidate, key
        return best

    def sticky(self, group: Group, usable: Usable, key: str, monotonic: float,
               seconds: float | None, cursor: object) -> Candidate | None:
        """The proxy this key holds while it stays usable (and the key has not lapsed);
        otherwise the next one round robin, which the key holds from then on."""
        held = self._sticky.get(key)
        if held is not None and monotonic < held[1]:
            index = bisect.bisect_left(group.ids, held[0])
            if index < len(group.ids) and group.ids[index] == held[0] \
                    and usable(group.members[index]):
                self._hold(key, held[0], monotonic, seconds)
                return group.members[index]
        chosen = self.round_robin(group, usable, cursor)
        if chosen is None:
            return None
        self._hold(key, chosen.proxy_id, monotonic, seconds)
        return chosen

    def _hold(self, key: str, proxy_id: uuid.UUID, monotonic: float,
              seconds: float | None) -> None:
        self._sticky.pop(key, None)  # re-inserted last: the dict's order is age
        if len(self._sticky) >= STICKY_KEYS:
            del self._sticky[next(iter(self._sticky))]
        until = float("inf") if seconds is None else monotonic + seconds
        self._sticky[key] = (proxy_id, until)

    def held_by(self, key: str) -> uuid.UUID | None:
        held = self._sticky.get(key)
        return held[0] if held else None
