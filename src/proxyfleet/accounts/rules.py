"""Pure account rules. Imports only `core`."""

from __future__ import annotations

from datetime import datetime, timedelta

from proxyfleet.core.errors import InvalidInput

# How stale `last_used_at` may get before a request refreshes it: one write per key per
# interval, not one per request.
KEY_TOUCH_INTERVAL = timedelta(minutes=5)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def should_touch(last_used_at: datetime | None, now: datetime) -> bool:
    return last_used_at is None or now - last_used_at >= KEY_TOUCH_INTERVAL


def require_positive(amount: int) -> int:
    if amount <= 0:
        raise InvalidInput("Amount must be a positive whole number.", {"amount": amount})
    return amount
