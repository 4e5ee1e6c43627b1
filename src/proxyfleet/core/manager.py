"""Seed 000's view of a proxy: a row of the one inventory with its integer id, its sharing
and enabled flags, its real-traffic counters and its account sessions.

Imports nothing of the project but `core`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from proxyfleet.core.proxies import ProxyAddress
from proxyfleet.core.sessions import AccountSession


@dataclass(frozen=True, slots=True)
class ManagedProxy:
    number: int
    proxy_id: uuid.UUID
    address: ProxyAddress
    shared: bool
    is_active: bool
    total_requests: int
    failed_requests: int
    requests_this_hour: int  # zero once the clock hour it counts has passed
    error_count: int
    created_at: datetime
    updated_at: datetime
    sessions: tuple[AccountSession, ...] = ()
    hourly_budget: int | None = None  # its own, overriding the rotation setting
