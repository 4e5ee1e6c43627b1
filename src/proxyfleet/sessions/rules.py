"""Pure quota rules for Instagram actions: the rolling 24-hour window, the hourly cap, the
minimum gap, cool-offs after Instagram's refusals, and expiry.

The window is a true rolling one: an action done at `t` counts until `t + 24 h`, then frees
its unit. Nothing resets at midnight, so no hour can hold more than the day's cap.

Imports only `core`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from proxyfleet.core.clock import isoformat_z
from proxyfleet.core.events import Event, EventName
from proxyfleet.core.instagram import (
    AccountQuotaState,
    InstagramAction,
    QuotaPolicy,
    QuotaView,
    Refusal,
    SessionState,
    Usage,
)

DAY = timedelta(hours=24)
HOUR = timedelta(hours=1)


def window_start(now: datetime, length: timedelta = DAY) -> datetime:
    """Actions done strictly after this moment are in the window ending now."""
    return now - length


def frees_at(usage: Usage, length: timedelta = DAY) -> datetime | None:
    """When the oldest counted action leaves the window (None when none is counted)."""
    return None if usage.oldest is None or usage.count == 0 else usage.oldest + length


def quota_view(action: InstagramAction, limit: int, day: Usage, now: datetime,
               state: AccountQuotaState) -> QuotaView:
    blocked = [moment for moment in (state.blocked_until.get(action),
                                     state.writes_blocked_until)
               if moment is not None and moment > now]
    return QuotaView(action=action, limit=limit, used=day.count,
                     left=max(0, limit - day.count), frees_at=frees_at(day),
                     blocked_until=max(blocked) if blocked else None)


@dataclass(frozen=True, slots=True)
class Denial:
    """Why an action may not be done now, and when it may be at the earliest."""

    reason: str
    retry_at: datetime | None
    message: str


def deny_reason(action: InstagramAction, policy: QuotaPolicy, state: AccountQuotaState,
                day: Usage, hour: Usage, now: datetime) -> Denial | None:
    """None when the action may be done now; else the first rule that forbids it: a
    cool-off, the daily limit, the hourly cap, then the gap."""
    for denial in (_cooled_off(action, state, now), _over_day(action, policy, state, day),
                   _over_hour(action, policy, hour), _too_soon(state, now)):
        if denial is not None:
            return denial
    return None


def _cooled_off(action: InstagramAction, state: AccountQuotaState,
                now: datetime) -> Denial | None:
    until = state.blocked_until.get(action)
    if until is not None and until > now:
        return Denial("feedback_required", until,
                      f"Instagram blocked {action.value}s for this account (feedback_required) "
                      "until the cool-off ends.")
    if state.writes_blocked_until is not None and state.writes_blocked_until > now:
        return Denial("please_wait", state.writes_blocked_until,
                      "Instagram asked this account to wait before any further action.")
    return None


def _over_day(action: InstagramAction, policy: QuotaPolicy, state: AccountQuotaState,
              day: Usage) -> Denial | None:
    limit = policy.daily_limit(action, state.overrides)
    if day.count < limit:
        return None
    return Denial("daily_limit", frees_at(day),
                  f"Daily {action.value} limit of {limit} reached in the last 24 hours.")


def _over_hour(action: InstagramAction, policy: QuotaPolicy, hour: Usage) -> Denial | None:
    cap = policy.per_hour.get(action)
    if cap is None or hour.count < cap:
        return None
    return Denial("hourly_limit", frees_at(hour, HOUR),
                  f"Hourly {action.value} limit of {cap} reached in the last hour.")


def _too_soon(state: AccountQuotaState, now: datetime) -> Denial | None:
    if state.next_action_at is None or state.next_action_at <= now:
        return None
    return Denial("min_gap", state.next_action_at,
                  "Too soon after this account's previous action.")


def next_action_at(policy: QuotaPolicy, now: datetime,
                   uniform: Callable[[float, float], float]) -> datetime | None:
    """When the account may act again after acting now: the gap plus a random share of the
    jitter, or None when no gap is set."""
    if policy.min_gap <= timedelta(0) and policy.gap_jitter <= timedelta(0):
        return None
    jitter = uniform(0.0, policy.gap_jitter.total_seconds())
    return now + policy.min_gap + timedelta(seconds=jitter)


@dataclass(frozen=True, slots=True)
class Consequence:
    """What a refusal does to the account and session: a cool-off of one action or of
    every write, the challenge state, or invalidation."""

    action_blocked_until: datetime | None = None
    writes_blocked_until: datetime | None = None
    challenge: bool = False
    invalidate: bool = False


def consequence_of(refusal: Refusal, policy: QuotaPolicy, now: datetime) -> Consequence:
    match refusal:
        case Refusal.FEEDBACK_REQUIRED:
            return Consequence(action_blocked_until=now + policy.feedback_cooloff)
        case Refusal.PLEASE_WAIT:
            return Consequence(writes_blocked_until=now + policy.please_wait_cooloff)
        case Refusal.CHALLENGE_REQUIRED:
            return Consequence(challenge=True)
        case Refusal.LOGIN_REQUIRED:
            return Consequence(invalidate=True)
        case _:
            return Consequence()


def state_after(consequence: Consequence) -> SessionState | None:
    """The state a refusal moves the session to, or None when it stays active."""
    if consequence.challenge:
        return SessionState.CHALLENGE
    return SessionState.INVALIDATED if consequence.invalidate else None


# Instagram's refusals that block an account's action: each is reported.
BLOCKING_REFUSALS = frozenset({Refusal.FEEDBACK_REQUIRED, Refusal.PLEASE_WAIT,
                               Refusal.CHALLENGE_REQUIRED, Refusal.LOGIN_REQUIRED})


@dataclass(frozen=True, slots=True)
class BlockedAction:
    """An action Instagram refused, and through which proxy it went."""

    username: str
    action: InstagramAction
    target: str
    refusal: Refusal
    proxy_id: uuid.UUID
    proxy_number: int | None


def action_blocked(blocked: BlockedAction, consequence: Consequence) -> Event | None:
    """`instagram.action_blocked` for a refusal that blocks the account's action (None for
    the others: rate limits, server errors, an unreachable proxy, a rejected request)."""
    if blocked.refusal not in BLOCKING_REFUSALS:
        return None
    until = consequence.action_blocked_until or consequence.writes_blocked_until
    state = state_after(consequence) or SessionState.ACTIVE
    return Event(EventName.INSTAGRAM_ACTION_BLOCKED, {
        "username": blocked.username, "action": blocked.action.value,
        "target": blocked.target, "reason": blocked.refusal.value,
        "proxy_id": str(blocked.proxy_id), "proxy_number": blocked.proxy_number,
        "blocked_until": None if until is None else isoformat_z(until),
        "session_state": state.value})


def proxy_suspect(proxy_id: uuid.UUID, proxy_number: int | None, usernames: Sequence[str],
                  window: timedelta, now: datetime) -> Event:
    """`instagram.proxy_suspect`: the accounts blocked through the proxy within the window
    made it a suspect."""
    return Event(EventName.INSTAGRAM_PROXY_SUSPECT, {
        "proxy_id": str(proxy_id), "proxy_number": proxy_number,
        "usernames": list(usernames), "blocked_accounts": len(usernames),
        "window_minutes": window.total_seconds() / 60,
        "since": isoformat_z(now - window)})


def expires_at(created_at: datetime, expiry_hours: float) -> datetime:
    return created_at + timedelta(hours=expiry_hours)


def dedupe_key(action: InstagramAction, target: str) -> str | None:
    """The key that makes a second like of one post (or follow of one user) the same action;
    None for actions that may be repeated."""
    return None if action.repeatable else target


def backoff_delay(attempt: int, base: float, cap: float,
                  uniform: Callable[[float, float], float]) -> float:
    """Seconds to wait before retry `attempt` (1, 2, …): "full jitter" over an exponential
    that never exceeds `cap`."""
    return uniform(0.0, min(cap, base * 2 ** (attempt - 1)))


PLEASE_WAIT_TEXT = "please wait a few minutes"


def classify(status: int, message: str) -> Refusal | None:
    """What Instagram's answer means: None for success, else the kind of refusal. `message`
    is the JSON body's `message` (empty when the body is not JSON)."""
    if 200 <= status < 300:
        return None
    lowered = message.lower()
    for marker, refusal in _MARKERS:
        if marker in lowered:
            return refusal if status != 429 else Refusal.RATE_LIMITED
    if status == 429:
        return Refusal.RATE_LIMITED
    if status >= 500:
        return Refusal.SERVER_ERROR
    return Refusal.LOGIN_REQUIRED if status == 401 else Refusal.REJECTED


_MARKERS = (("feedback_required", Refusal.FEEDBACK_REQUIRED),
            ("challenge_required", Refusal.CHALLENGE_REQUIRED),
            ("checkpoint_required", Refusal.CHALLENGE_REQUIRED),
            ("login_required", Refusal.LOGIN_REQUIRED),
            (PLEASE_WAIT_TEXT, Refusal.PLEASE_WAIT))


def retried(refusal: Refusal | None) -> bool:
    """Whether the client tries again (after a back-off) rather than report the refusal."""
    return refusal in (Refusal.RATE_LIMITED, Refusal.SERVER_ERROR)
