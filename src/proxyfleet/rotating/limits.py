"""Per-user usage kept in memory on the hot path: what is not yet written to the database.
(The per-user caps are a `core.limits.Limiter`, built by `bootstrap`.)

Standard library and `core` only.
"""

from __future__ import annotations

import uuid

from proxyfleet.core.gateway import Usage


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
