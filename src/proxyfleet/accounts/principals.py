"""A short-lived memory of verified API keys, so a busy client is not looked up in the database
on every request. Imports only `core`.

Entries are keyed by the key's digest (the raw key is never kept) and live `ttl` seconds on a
monotonic clock. A key revoked through this process is forgotten at once; a key revoked
through another process sharing the database stops working here within `ttl`. Only
successful look-ups are remembered: unknown keys always reach the database.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from proxyfleet.core.accounts import Principal

# Past this many entries, expired ones are dropped before another is added (and, should every
# entry still be fresh, all of them): memory stays bounded whatever the number of keys.
MAX_PRINCIPALS = 10_000


class PrincipalCache:
    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic,
                 capacity: int = MAX_PRINCIPALS) -> None:
        self._ttl = ttl
        self._clock = clock
        self._capacity = capacity
        self._entries: dict[str, tuple[Principal, float]] = {}
        self._revocations = 0

    @property
    def revocations(self) -> int:
        """Read before a database look-up and hand to `put`: a key revoked while the
        look-up was in flight must not be remembered as valid."""
        return self._revocations

    def get(self, digest: str) -> Principal | None:
        found = self._entries.get(digest)
        if found is None:
            return None
        principal, expires = found
        if self._clock() >= expires:
            del self._entries[digest]
            return None
        return principal

    def put(self, digest: str, principal: Principal, revocations: int) -> None:
        if self._ttl <= 0 or revocations != self._revocations:
            return
        if len(self._entries) >= self._capacity:
            self._prune()
        self._entries[digest] = (principal, self._clock() + self._ttl)

    def forget_key(self, key_id: uuid.UUID) -> None:
        """Drop a key now (it was just revoked); revocations are rare, so a scan will do."""
        self._revocations += 1
        for digest in [d for d, (p, _) in self._entries.items() if p.key_id == key_id]:
            del self._entries[digest]

    def __len__(self) -> int:
        return len(self._entries)

    def _prune(self) -> None:
        now = self._clock()
        self._entries = {d: entry for d, entry in self._entries.items() if entry[1] > now}
        if len(self._entries) >= self._capacity:
            self._entries.clear()
