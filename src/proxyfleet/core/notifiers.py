"""Notifier entities: a configured notifier, a delivery of one event to it, and its outcome.

Imports nothing of the project but `core`.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from proxyfleet.core.events import Event


class DeliveryState(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    # Given up after the last attempt the back-off allows.
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class NotifierRecord:
    """A configured notifier. `secrets` are open here; storage keeps them sealed."""

    id: uuid.UUID
    plugin: str
    options: Mapping[str, Any]
    secrets: Mapping[str, str]
    subscribes_to: tuple[str, ...]
    enabled: bool
    created_at: datetime
    healthy: bool
    consecutive_failures: int
    last_error: str | None
    last_attempt_at: datetime | None
    last_success_at: datetime | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """A claimed delivery: the event, the notifier, and the claim that lets this process
    record its outcome."""

    id: uuid.UUID
    event: Event
    notifier: NotifierRecord
    attempts: int
    claim_token: uuid.UUID


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    delivery: Delivery
    error: str | None
    at: datetime

    @property
    def succeeded(self) -> bool:
        return self.error is None
