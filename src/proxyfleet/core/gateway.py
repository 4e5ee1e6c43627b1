"""What the rotating gateway records: per-user usage and per-domain bans of proxies.

Imports nothing of the project.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Usage:
    """Requests started and bytes carried for one user (a total, or a batch to add)."""

    user_id: uuid.UUID
    requests: int = 0
    bytes_up: int = 0
    bytes_down: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.user_id, self.requests + other.requests,
                     self.bytes_up + other.bytes_up, self.bytes_down + other.bytes_down)


@dataclass(frozen=True, slots=True)
class Ban:
    """`proxy_id` stays away from `domain` until `banned_until`: the target answered
    `status` through it."""

    proxy_id: uuid.UUID
    domain: str
    status: int
    banned_at: datetime
    banned_until: datetime
