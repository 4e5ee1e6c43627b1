"""Per-user caps and usage, kept in memory on the hot path: connections open at once,
requests started per clock minute, and the usage not yet written to the database.

Standard library and `core` only.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from proxyfleet.core.gateway import Usage


@dataclass(slots=True)
class _Minute:
    minute: int = -1
    started: int = 0


class UserLimits:
    """`max_connections` open at once and `per_minute` requests per clock minute, per user
    (0: no cap)."""

    def __init__(self, max_connections: int, per_minute: int, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._max_connections = max_connections
        self._per_minute = per_minute
        self._clock = clock
        self._open: dict[uuid.UUID, int] = {}
        self._minutes: dict[uuid.UUID, _Minute] = {}

    def open(self, user: uuid.UUID) -> bool:
        """Take a connection slot; False (and nothing taken) at the cap."""
        held = self._open.get(user, 0)
        if self._max_connections and held >= self._max_connections:
            return False
        self._open[user] = held + 1
        return True

    def close(self, user: uuid.UUID) -> None:
        held = self._open.get(user, 0) - 1
        if held > 0:
            self._open[user] = held
        else:
            self._open.pop(user, None)

    def open_connections(self, user: uuid.UUID) -> int:
        return self._open.get(user, 0)

    def start_request(self, user: uuid.UUID) -> bool:
        """Count a request in this minute; False (and nothing counted) at the cap."""
        minute = int(self._clock() // 60)
        window = self._minutes.get(user)
        if window is None:
            if len(self._minutes) > 100_000:  # bounded: old windows are worthless
                self._minutes = {u: w for u, w in self._minutes.items() if w.minute == minute}
            window = self._minutes[user] = _Minute()
        if window.minute != minute:
            window.minute, window.started = minute, 0
        if self._per_minute and window.started >= self._per_minute:
            return False
        window.started += 1
        return True


class UsageTally:
    """Usage counted since the last `drain()`, per user."""

    def __init__(self) -> None:
        self._pending: dict[uuid.UUID, list[int]] = {}

    def counts(self, user: uuid.UUID) -> list[int]:
        """The user's [requests, bytes up, bytes down], to add to in place."""
        found = self._pending.get(user)
        if found is None:
            found = self._pending[user] = [0, 0, 0]
        return found

    def pending(self, user: uuid.UUID) -> Usage:
        requests, up, down = self._pending.get(user, (0, 0, 0))
        return Usage(user, requests, up, down)

    def drain(self) -> list[Usage]:
        batch, self._pending = self._pending, {}
        return [Usage(user, *counts) for user, counts in batch.items() if any(counts)]

    def restore(self, batch: list[Usage]) -> None:
        """Put back a batch that could not be written."""
        for usage in batch:
            counts = self.counts(usage.user_id)
            counts[0] += usage.requests
            counts[1] += usage.bytes_up
            counts[2] += usage.bytes_down
