"""Time in one place: every timestamp proxyfleet makes is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def isoformat_z(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z` suffix, as every surface prints time."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
