"""Proxy entities and their fixed sets: protocols, statuses, anonymity levels.

Imports nothing of the project.
"""

from __future__ import annotations

import enum
import ipaddress
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class ProxyProtocol(enum.StrEnum):
    HTTP = "http"
    HTTPS = "https"
    SOCKS4 = "socks4"
    SOCKS5 = "socks5"


class ProxyStatus(enum.StrEnum):
    UNCHECKED = "unchecked"
    ACTIVE = "active"
    DEAD = "dead"


class Anonymity(enum.StrEnum):
    TRANSPARENT = "transparent"
    ANONYMOUS = "anonymous"
    ELITE = "elite"


@dataclass(frozen=True, slots=True)
class ProxyAddress:
    """A proxy as a list names it: where it listens, how to speak to it, how to log in.

    `host` is an IP address (v4 or v6, no brackets) or a host name, lower-cased.
    """

    host: str
    port: int
    protocol: ProxyProtocol
    username: str | None = None
    password: str | None = None

    @property
    def key(self) -> tuple[str, int, ProxyProtocol]:
        """What makes a proxy unique in the inventory."""
        return self.host, self.port, self.protocol

    @property
    def is_ipv6(self) -> bool:
        try:
            return ipaddress.ip_address(self.host).version == 6
        except ValueError:
            return False

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if self.is_ipv6 else self.host
        return f"{host}:{self.port}"

    def url(self, *, with_credentials: bool = False) -> str:
        auth = ""
        if with_credentials and self.username is not None:
            auth = f"{self.username}:{self.password or ''}@"
        return f"{self.protocol.value}://{auth}{self.netloc}"


@dataclass(frozen=True, slots=True)
class Proxy:
    """One row of the inventory, as the domain sees it."""

    id: uuid.UUID
    address: ProxyAddress
    status: ProxyStatus
    anonymity: Anonymity | None
    exit_ip: str | None
    country: str | None
    score: float
    avg_latency_ms: float | None
    uptime_pct: float | None
    last_checked_at: datetime | None
    first_seen_at: datetime
    tags: dict[str, Any] = field(default_factory=dict)


class ProxyOrigin(enum.StrEnum):
    """What brought a proxy into the inventory."""

    SOURCE = "source"
    MANUAL = "manual"
    PROVIDER = "provider"
    LOCAL = "local"


class SortField(enum.StrEnum):
    SCORE = "score"
    LATENCY = "latency"
    UPTIME = "uptime"
    LAST_CHECKED = "last_checked"

    @property
    def default_descending(self) -> bool:
        """Best first: high score, low latency, high uptime, most recently checked."""
        return self is not SortField.LATENCY


@dataclass(frozen=True, slots=True)
class ProxyFilter:
    status: ProxyStatus | None = None
    protocol: ProxyProtocol | None = None
    anonymity: Anonymity | None = None
    country: str | None = None
    min_score: float | None = None
    max_latency_ms: float | None = None
    min_uptime_pct: float | None = None
    verified_since: datetime | None = None
    # True: only proxies shared with the pool (what users who are not admins may see).
    shared: bool | None = None


@dataclass(frozen=True, slots=True)
class ProxyCheck:
    checker_name: str
    stage: int
    passed: bool
    latency_ms: float | None
    detail: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    discovered: int = 0
    new: int = 0
    updated: int = 0

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(self.discovered + other.discovered, self.new + other.new,
                            self.updated + other.updated)


@dataclass(frozen=True, slots=True)
class Source:
    id: uuid.UUID
    url: str
    parser_name: str
    cron_schedule: str
    default_protocol: ProxyProtocol
    is_active: bool
    created_at: datetime
    last_scraped_at: datetime | None
    next_run_at: datetime | None
    last_error: str | None
    consecutive_failures: int


@dataclass(frozen=True, slots=True)
class ScrapeResult:
    source_id: uuid.UUID
    counts: UpsertCounts
    duration_ms: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class CheckSubject:
    """A proxy handed to a check round, with what the inventory knew of its health."""

    id: uuid.UUID
    address: ProxyAddress
    status: ProxyStatus
    health_window: str
    avg_latency_ms: float | None
    consecutive_failures: int
    last_alive_at: datetime | None
    anonymity: Anonymity | None
    exit_ip: str | None
    country: str | None
    first_seen_at: datetime


@dataclass(frozen=True, slots=True)
class RoundRecord:
    """Everything one check round changes about one proxy."""

    proxy_id: uuid.UUID
    status: ProxyStatus
    health_window: str
    uptime_pct: float
    avg_latency_ms: float | None
    consecutive_failures: int
    last_alive_at: datetime | None
    score: float
    next_check_at: datetime
    checked_at: datetime
    anonymity: Anonymity | None
    exit_ip: str | None
    country: str | None
    checks: tuple[ProxyCheck, ...]
