"""Pure rules of notification: which notifiers an event goes to, when a failed delivery is
tried again, and when a watched pool counts as low (with hysteresis). Imports only `core`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

# `*`, a family such as `credits.*`, or one event such as `proxy.pool_low`.
PATTERN = re.compile(r"^(\*|[a-z][a-z0-9_]*\.\*|[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*)$")


def valid_pattern(pattern: str) -> bool:
    return PATTERN.fullmatch(pattern) is not None


def matches(pattern: str, event_name: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_name.startswith(pattern[:-1])
    return event_name == pattern


def subscribed(patterns: Iterable[str], event_name: str) -> bool:
    return any(matches(pattern, event_name) for pattern in patterns)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Retry timing of a failed delivery: `first`, doubling per attempt, at most `longest`;
    after `attempts` attempts the delivery is given up."""

    first: timedelta
    longest: timedelta
    attempts: int

    def delay(self, attempts_made: int) -> timedelta:
        exponent = min(max(attempts_made - 1, 0), 32)
        grown: timedelta = self.first * (2 ** exponent)
        return min(grown, self.longest)

    def gives_up(self, attempts_made: int) -> bool:
        return attempts_made >= self.attempts


@dataclass(frozen=True, slots=True)
class Hysteresis:
    """A pool is low once its count drops under `low`, and recovered only when it climbs back
    to `recover` or more (`recover` > `low`), so a count wavering around one line does not
    flap."""

    low: int
    recover: int

    def next_state(self, is_low: bool, active: int) -> bool:
        if is_low:
            return active < self.recover
        return active < self.low
