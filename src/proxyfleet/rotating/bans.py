"""Ban rules: an HTTP answer from the target with a status in the rule's set, through a pool
proxy, keeps that proxy away from that target's domain for a cool-off. Held in memory for the
hot path; new bans are written to the database in batches and bans other gateway processes
wrote are merged in at each flush.

Standard library and `core` only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from datetime import datetime, timedelta

from proxyfleet.core.clock import utcnow
from proxyfleet.core.gateway import Ban


class BanList:
    def __init__(self, statuses: Collection[int], seconds: float, *,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.statuses = frozenset(statuses)
        self._length = timedelta(seconds=seconds)
        self._clock = clock
        self._by_domain: dict[str, dict[uuid.UUID, Ban]] = {}
        self._unsaved: list[Ban] = []

    def matches(self, status: int) -> bool:
        return status in self.statuses

    def ban(self, proxy_id: uuid.UUID, domain: str, status: int) -> Ban:
        now = self._clock()
        ban = Ban(proxy_id, domain, status, now, now + self._length)
        self._by_domain.setdefault(domain, {})[proxy_id] = ban
        self._unsaved.append(ban)
        return ban

    def excluded(self, domain: str) -> frozenset[uuid.UUID]:
        """The proxies banned for `domain` now."""
        found = self._by_domain.get(domain)
        if not found:
            return frozenset()
        now = self._clock()
        return frozenset(proxy_id for proxy_id, ban in found.items() if ban.banned_until > now)

    def unsaved(self) -> list[Ban]:
        batch, self._unsaved = self._unsaved, []
        return batch

    def restore(self, batch: list[Ban]) -> None:
        self._unsaved[:0] = batch

    def merge(self, stored: list[Ban]) -> None:
        """Take in the bans in force in the database (every process's); drop expired ones."""
        now = self._clock()
        for ban in stored:
            known = self._by_domain.setdefault(ban.domain, {}).get(ban.proxy_id)
            if known is None or known.banned_until < ban.banned_until:
                self._by_domain[ban.domain][ban.proxy_id] = ban
        for domain in list(self._by_domain):
            kept = {p: b for p, b in self._by_domain[domain].items() if b.banned_until > now}
            if kept:
                self._by_domain[domain] = kept
            else:
                del self._by_domain[domain]
