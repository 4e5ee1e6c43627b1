"""Instagram account sessions (seed 003): the actions, what Instagram may answer, the states a
session and an account go through, and the policy their quotas follow. Frozen dataclasses
and enums, no I/O.

Imports nothing of the project.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from proxyfleet.core.errors import DomainError, ErrorKind


class InstagramAction(enum.StrEnum):
    FOLLOW = "follow"
    LIKE = "like"
    COMMENT = "comment"

    @property
    def repeatable(self) -> bool:
        """Whether doing it again to the same target is a new action (a second comment is;
        a second like of the same post is not)."""
        return self is InstagramAction.COMMENT


class Refusal(enum.StrEnum):
    """How Instagram refused an action, told apart by the client."""

    FEEDBACK_REQUIRED = "feedback_required"  # this action blocked for a while
    PLEASE_WAIT = "please_wait"  # "Please wait a few minutes": every write stops a while
    CHALLENGE_REQUIRED = "challenge_required"  # a person must solve a challenge
    LOGIN_REQUIRED = "login_required"  # the session is no longer logged in
    RATE_LIMITED = "rate_limited"  # 429, still so after the client's retries
    SERVER_ERROR = "server_error"  # 5xx, still so after the client's retries
    UNREACHABLE = "unreachable"  # no answer: the proxy or the network failed
    REJECTED = "rejected"  # any other refusal (bad input, CSRF)

    @property
    def blocks_account(self) -> bool:
        """A refusal that says Instagram distrusts the account (or the address it came from)."""
        return self in _BLOCKS

    @property
    def proxy_failed(self) -> bool:
        """Whether the proxy, not Instagram, is to blame."""
        return self is Refusal.UNREACHABLE


_BLOCKS = frozenset({Refusal.FEEDBACK_REQUIRED, Refusal.PLEASE_WAIT,
                     Refusal.CHALLENGE_REQUIRED})


class SessionState(enum.StrEnum):
    ACTIVE = "active"
    CHALLENGE = "challenge"  # stopped until a person solves the challenge
    INVALIDATED = "invalidated"  # by its owner, or by Instagram's login_required


@dataclass(frozen=True, slots=True)
class QuotaPolicy:
    """Limits per rolling 24 hours, optional hourly caps, an optional minimum gap between one
    account's actions (plus up to `gap_jitter` more, drawn at random), and cool-offs."""

    per_day: Mapping[InstagramAction, int]
    per_hour: Mapping[InstagramAction, int] = field(default_factory=dict)
    min_gap: timedelta = timedelta(0)
    gap_jitter: timedelta = timedelta(0)
    feedback_cooloff: timedelta = timedelta(hours=12)
    please_wait_cooloff: timedelta = timedelta(hours=1)

    def daily_limit(self, action: InstagramAction,
                    overrides: Mapping[InstagramAction, int]) -> int:
        return overrides.get(action, self.per_day[action])


@dataclass(frozen=True, slots=True)
class Usage:
    """Actions counted in one window: how many, and when the oldest of them was done."""

    count: int = 0
    oldest: datetime | None = None


@dataclass(frozen=True, slots=True)
class QuotaView:
    """One action's quota as `GET /api/instagram/limits` shows it."""

    action: InstagramAction
    limit: int
    used: int
    left: int
    frees_at: datetime | None  # when the oldest counted action leaves the window
    blocked_until: datetime | None


@dataclass(frozen=True, slots=True)
class AccountQuotaState:
    """What an account carries between actions: limit overrides and cool-offs (per action,
    and `writes` for all of them) and when its next action may be done at the earliest."""

    overrides: Mapping[InstagramAction, int] = field(default_factory=dict)
    blocked_until: Mapping[InstagramAction, datetime] = field(default_factory=dict)
    writes_blocked_until: datetime | None = None
    next_action_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class InstagramSession:
    """An Instagram session: a row of the platform's one session table, with the account's
    cookies (opened; sealed at rest), user agent and state."""

    id: int
    username: str
    proxy_id: uuid.UUID
    cookies: Mapping[str, str]
    user_agent: str
    state: SessionState
    owner_id: uuid.UUID | None
    created_at: datetime
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


# --- errors: each surface maps them to its envelope --------------------------------------


class InvalidSession(DomainError):
    kind = ErrorKind.UNAUTHENTICATED
    code = "INVALID_SESSION"


class QuotaExceeded(DomainError):
    """Refused before it was tried: a limit, an hourly cap, the gap or a cool-off."""

    kind = ErrorKind.CONFLICT
    code = "RATE_LIMIT_EXCEEDED"


class InstagramRefused(DomainError):
    """Instagram refused or failed the action (or could not be reached)."""

    kind = ErrorKind.UPSTREAM
    code = "REQUEST_FAILED"


class NoProxyForSession(DomainError):
    kind = ErrorKind.UNAVAILABLE
    code = "NO_PROXY_AVAILABLE"
