"""Lease entities. Imports nothing of the project."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

from proxyfleet.core.proxies import Proxy


class LeaseEnd(enum.StrEnum):
    RELEASED = "released"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Lease:
    id: uuid.UUID
    proxy: Proxy
    user_id: uuid.UUID
    created_at: datetime
    expires_at: datetime
    released_at: datetime | None


@dataclass(frozen=True, slots=True)
class LeaseGrant:
    lease: Lease
    credits_remaining: int
