"""The rotation service's vocabulary: strategies, settings, what a consumer wants and what it
is handed. Every surface that hands out a proxy per request (the gateway, account sessions,
`GET /api/proxies/next`) speaks these types; the service lives in `pool/rotation.py`.

Imports nothing of the project but `core`.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from proxyfleet.core.proxies import Anonymity, ProxyAddress, ProxyFilter, ProxyProtocol


class Strategy(enum.StrEnum):
    ROUND_ROBIN = "round_robin"
    WEIGHTED = "weighted"
    LEAST_USED = "least_used"
    STICKY = "sticky"


@dataclass(frozen=True, slots=True)
class RotationSettings:
    """Shared by every process (stored in the database).

    `health_window`: checker rounds a proxy's health is judged over; `hourly_budget`: requests
    per proxy per clock hour (None: no budget; a proxy's own budget overrides it);
    `error_threshold`: consecutive failures that take a proxy out for `cooloff_seconds`,
    after which it gets one probation request; `strategy`: used when a consumer names none.
    """

    health_window: int = 20
    hourly_budget: int | None = None
    error_threshold: int = 5
    cooloff_seconds: float = 300.0
    strategy: Strategy = Strategy.ROUND_ROBIN


@dataclass(frozen=True, slots=True)
class Want:
    """What a consumer asks of the rotation service.

    `filter`: the pool's filters (its `status` is ignored: only healthy proxies are handed
    out). `strategy`: None for the settings' default. `key`: the sticky key (a session id);
    with a key and no strategy, the strategy is sticky. `sticky_seconds`: how long a key
    keeps its proxy without being asked again (None: as long as the process runs).
    `include_private`: private proxies too (admins, the owner's sessions). `among`: only
    these proxies (a session's own proxy). `exclude`: not these (failover after an error).
    `owner`: the user asking for a proxy they own (a shop purchase, through the gateway's
    `order` option); a proxy with an owner goes to that owner alone, never to anyone else,
    `include_private` or not. `counts`: False for a choice no request follows (pinning an
    account session to its proxy): it takes nothing of the hourly budget and no probation.
    """

    filter: ProxyFilter = field(default_factory=ProxyFilter)
    strategy: Strategy | None = None
    key: str | None = None
    sticky_seconds: float | None = None
    include_private: bool = False
    among: frozenset[uuid.UUID] | None = None
    exclude: frozenset[uuid.UUID] = frozenset()
    owner: uuid.UUID | None = None
    counts: bool = True

    @property
    def effective_strategy(self) -> Strategy | None:
        if self.strategy is None and self.key is not None:
            return Strategy.STICKY
        return self.strategy


@dataclass(frozen=True, slots=True)
class Pick:
    """A proxy handed out: where it is and how to log in (the password opened), and the
    score it was weighed by. `number` is its seed-000 id, when it has one."""

    proxy_id: uuid.UUID
    number: int | None
    address: ProxyAddress
    score: float
    country: str | None
    anonymity: Anonymity | None
    shared: bool

    @property
    def host(self) -> str:
        return self.address.host

    @property
    def port(self) -> int:
        return self.address.port

    @property
    def protocol(self) -> ProxyProtocol:
        return self.address.protocol

    @property
    def username(self) -> str | None:
        return self.address.username

    @property
    def password(self) -> str | None:
        return self.address.password


class Rotator(Protocol):
    """The rotation service as its consumers see it (`pool.rotation.RotationService`): the
    gateway and account sessions, which may not import `pool`, take one of these."""

    async def pick(self, want: Want) -> Pick | None: ...

    def record(self, proxy_id: uuid.UUID, ok: bool,
               latency_ms: float | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class Candidate:
    """A healthy, enabled proxy as the rotation snapshot holds it (counters as stored).
    `owner`: the user who bought it in the shop (None: the pool's)."""

    proxy_id: uuid.UUID
    number: int | None
    address: ProxyAddress
    shared: bool
    anonymity: Anonymity | None
    country: str | None
    checker_score: float
    avg_latency_ms: float | None
    uptime_pct: float | None
    last_checked_at: datetime | None
    health_window: str
    hourly_budget: int | None
    total_requests: int
    failed_requests: int
    requests_this_hour: int
    requests_hour: int
    error_count: int
    cooling_until: datetime | None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    owner: uuid.UUID | None = None


@dataclass(slots=True)
class Outcomes:
    """Request outcomes of one proxy in one clock hour, not yet stored. `reset`: a success
    was among them; `tail`: failures after the last success (or all, without one); the
    latencies measured (time to first byte), summed."""

    proxy_id: uuid.UUID
    hour: int
    total: int = 0
    failed: int = 0
    reset: bool = False
    tail: int = 0
    latency_total: float = 0.0
    latency_samples: int = 0

    @property
    def latency_ms(self) -> float | None:
        """The mean of the latencies measured, None without any."""
        return self.latency_total / self.latency_samples if self.latency_samples else None

    def add(self, ok: bool, latency_ms: float | None = None) -> None:
        if latency_ms is not None:
            self.latency_total += latency_ms
            self.latency_samples += 1
        self.total += 1
        if ok:
            self.reset, self.tail = True, 0
        else:
            self.failed += 1
            self.tail += 1

    def merge(self, later: Outcomes) -> None:
        """Fold outcomes that came after these into them."""
        self.total += later.total
        self.failed += later.failed
        self.latency_total += later.latency_total
        self.latency_samples += later.latency_samples
        if later.reset:
            self.reset, self.tail = True, later.tail
        else:
            self.tail += later.tail


def hour_of(moment: datetime) -> int:
    """The clock hour (UTC) a moment falls in, as hours since the epoch."""
    return int(moment.timestamp() // 3600)
