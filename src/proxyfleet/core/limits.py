"""Per-user limits, one kind for every surface that bounds a user: a cap on what the user
holds at once (gateway connections, proxy tests running) and a rate per minute (gateway
requests, proxy fetches). `Limiter` is what its users see; `MemoryLimiter` keeps the counts
in the process, `storage.shared_counts.RedisLimiter` shares them through Redis.

The rate is a token bucket of `per_minute` units refilled evenly over a minute: a rested
user may start a minute's worth at once, then goes at the rate. A refused admission takes
nothing.

Standard library only.
"""

from __future__ import annotations

import enum
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

# Users whose bucket is full and who hold nothing are forgotten once there are this many.
FORGET_ABOVE = 10_000
# What an admission holds when the place was taken in this process.
HELD_HERE = "here"


class Refusal(enum.Enum):
    AT_ONCE = "at_once"
    """The user holds as many as the cap allows."""
    RATE = "rate"
    """The user's bucket has too few units left."""


@dataclass(frozen=True, slots=True)
class Caps:
    """0 turns a cap off."""

    at_once: int = 0
    per_minute: int = 0


@dataclass(frozen=True, slots=True)
class Admission:
    """The answer to `admit`: refused (and why, and when to come back), or let in, holding a
    place named `lease` until `release` (None: nothing held)."""

    user: uuid.UUID
    refused: Refusal | None = None
    retry_after: float = 0.0
    lease: str | None = None

    def __bool__(self) -> bool:
        return self.refused is None


class Limiter(Protocol):
    caps: Caps

    async def admit(self, user: uuid.UUID, units: int = 1, *, hold: bool = True) -> Admission:
        """Take `units` of the user's rate and, with `hold`, a place under the at-once cap:
        both or neither."""
        ...

    def release(self, admission: Admission) -> None:
        """Give back the place an admission holds (nothing, for one that holds none)."""
        ...

    async def run(self) -> None:
        """The limiter's upkeep, run in the background for as long as it is used."""
        ...


class MemoryLimiter:
    """The counts in this process: with several processes a user gets each one's allowance."""

    def __init__(self, caps: Caps, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.caps = caps
        self._clock = clock
        self._held: dict[uuid.UUID, int] = {}
        # user -> (units left, when counted)
        self._buckets: dict[uuid.UUID, tuple[float, float]] = {}

    async def admit(self, user: uuid.UUID, units: int = 1, *, hold: bool = True) -> Admission:
        return self.admit_now(user, units, hold=hold)

    def admit_now(self, user: uuid.UUID, units: int = 1, *, hold: bool = True) -> Admission:
        """`admit`, which here never waits."""
        caps = self.caps
        hold = hold and caps.at_once > 0
        held = self._held.get(user, 0)
        if hold and held >= caps.at_once:
            return Admission(user, Refusal.AT_ONCE, 1.0)
        if units and caps.per_minute:
            wait = self._take(user, units)
            if wait:
                return Admission(user, Refusal.RATE, wait)
        if not hold:
            return Admission(user)
        self._held[user] = held + 1
        return Admission(user, lease=HELD_HERE)

    def release(self, admission: Admission) -> None:
        if admission.lease is None:
            return
        left = self._held.get(admission.user, 0) - 1
        if left > 0:
            self._held[admission.user] = left
        else:
            self._held.pop(admission.user, None)

    def holding(self, user: uuid.UUID) -> int:
        return self._held.get(user, 0)

    async def run(self) -> None:
        """Nothing to keep up."""

    def _take(self, user: uuid.UUID, units: int) -> float:
        """Take `units` from the user's bucket; 0.0, or the seconds until it would hold them
        (and nothing taken)."""
        now = self._clock()
        capacity = float(self.caps.per_minute)
        per_second = capacity / 60.0
        tokens, then = self._buckets.get(user, (capacity, now))
        tokens = min(capacity, tokens + (now - then) * per_second)
        if units > tokens:
            return max((min(units, capacity) - tokens) / per_second, 0.001)
        self._buckets[user] = (tokens - units, now)
        if len(self._buckets) > FORGET_ABOVE:
            self._forget_full(now, capacity, per_second)
        return 0.0

    def _forget_full(self, now: float, capacity: float, per_second: float) -> None:
        for user, (tokens, then) in list(self._buckets.items()):
            if tokens + (now - then) * per_second >= capacity and user not in self._held:
                del self._buckets[user]
