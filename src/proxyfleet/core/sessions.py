"""Account sessions: a cookie bound to one proxy, its sticky egress. The one session entity
of the platform (seed 000's sessions and seed 003's Instagram sessions are the same rows).

Imports nothing of the project.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime


class SessionStatus(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class AccountSession:
    """`session` is the cookie in clear: it is sealed at rest and opened by the repository."""

    id: int
    proxy_id: uuid.UUID
    session: str
    status: SessionStatus
    owner_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
