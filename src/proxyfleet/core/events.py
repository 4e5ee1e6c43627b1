"""The one event catalogue: every event proxyfleet emits, its name and its payload.

A feature emits an event by adding it to the unit of work that makes the change behind it:

    async with database.writing() as uow:
        ...                                   # the change
        uow.events.add(Event(EventName.SOURCE_FAILED, {"source_id": str(source.id), ...}))
        await uow.commit()                    # the change and the event, or neither

The event is written to the outbox in the same transaction as the change; notifiers receive
it later, at least once each (see `proxyfleet.notify`). Payloads are JSON objects: ids and
times as strings (times ISO 8601 with `Z`), counts as integers.

Imports nothing of the project.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from proxyfleet.core.clock import utcnow


class EventName(enum.StrEnum):
    """Every event, with its payload's keys in the comment above it."""

    # watch, active, threshold, recover_at, filter: {protocol, country, anonymity}
    POOL_LOW = "proxy.pool_low"
    # watch, active, threshold, recover_at, filter
    POOL_RECOVERED = "proxy.pool_recovered"
    # source_id, url, error, consecutive_failures
    SOURCE_FAILED = "source.failed"
    # source_id, url, error, consecutive_failures (the source was paused by itself)
    SOURCE_DISABLED = "source.disabled"
    # user_id, balance, threshold
    CREDITS_LOW = "credits.low"
    # user_id, balance (0)
    CREDITS_EXHAUSTED = "credits.exhausted"
    # lease_id, user_id, proxy_id, expires_at
    LEASE_EXPIRED = "lease.expired"
    # instance_id, ipv6_address, expired_at
    INSTANCE_EXPIRED = "instance.expired"
    # provider, country_code (null: every country), error: a catalogue sync that failed and
    # changed nothing (scheduled or asked for by an admin)
    SHOP_SYNC_FAILED = "shop.sync_failed"
    # order_id ("ORD-12345"), user_id, amount ("2.00", the seed's rendering), amount_cents,
    # currency ("usd"), proxy_id (the provider's, as a string), refunded_at
    SHOP_REFUNDED = "shop.refunded"
    # username, action (follow|like|comment), target, reason (feedback_required |
    # please_wait | challenge_required | login_required), proxy_id, proxy_number (the
    # manager's id, or null), blocked_until (when the account may do this action again; null
    # when the session stopped), session_state (active | challenge | invalidated)
    INSTAGRAM_ACTION_BLOCKED = "instagram.action_blocked"
    # proxy_id, proxy_number, usernames (the accounts blocked through it in the window),
    # blocked_accounts, window_minutes, since (the window's start): the proxy is disabled for
    # Instagram sessions, which move off it
    INSTAGRAM_PROXY_SUSPECT = "instagram.proxy_suspect"
    # notifier_id, message: what `POST /notifiers/{id}/test` sends, never stored
    NOTIFIER_TEST = "notifier.test"


@dataclass(frozen=True, slots=True)
class Event:
    name: EventName
    payload: Mapping[str, Any]
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    occurred_at: datetime = field(default_factory=utcnow)


def credit_events(user_id: uuid.UUID, balance_before: int, balance_after: int,
                  low_threshold: int) -> list[Event]:
    """The credit events one movement of a balance causes: `credits.low` when it crosses
    under `low_threshold` (0 turns it off), `credits.exhausted` when it reaches zero. Each
    debit is one conditional update with one `balance_after`, so a crossing is reported by
    exactly one movement."""
    found: list[Event] = []
    if balance_after >= balance_before:
        return found
    owner = str(user_id)
    if 0 < balance_after < low_threshold <= balance_before:
        found.append(Event(EventName.CREDITS_LOW, {"user_id": owner, "balance": balance_after,
                                                   "threshold": low_threshold}))
    if balance_after == 0 < balance_before:
        found.append(Event(EventName.CREDITS_EXHAUSTED, {"user_id": owner, "balance": 0}))
    return found
