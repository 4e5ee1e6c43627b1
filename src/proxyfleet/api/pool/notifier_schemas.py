"""Request and response models of the pool API's notifiers (admins only).

A body names the plugin and carries its settings beside `subscribes_to` and `enabled`:
`{"name": "webhook", "url": "…", "secret": "…", "subscribes_to": ["source.*"]}`. Answers
show the plain settings under `settings` and only the names of the secrets that are set."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from proxyfleet.core.notifiers import NotifierRecord

Patterns = Field(min_length=1, max_length=50)


class NotifierIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=64, description="The notifier plugin.")
    subscribes_to: list[str] = Field(default_factory=lambda: ["*"], min_length=1,
                                     max_length=50)
    enabled: bool = True

    def plugin_settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class NotifierPatch(BaseModel):
    model_config = ConfigDict(extra="allow")

    subscribes_to: list[str] | None = Field(None, min_length=1, max_length=50)
    enabled: bool | None = None

    def plugin_settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class NotifierOut(BaseModel):
    id: uuid.UUID
    name: str
    subscribes_to: list[str]
    enabled: bool
    healthy: bool
    consecutive_failures: int
    last_error: str | None
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    created_at: datetime
    settings: dict[str, Any]
    secrets: list[str] = Field(description="Names of the secret settings that are set; "
                                           "their values are never shown.")

    @classmethod
    def of(cls, record: NotifierRecord) -> NotifierOut:
        return cls(id=record.id, name=record.plugin, subscribes_to=list(record.subscribes_to),
                   enabled=record.enabled, healthy=record.healthy,
                   consecutive_failures=record.consecutive_failures,
                   last_error=record.last_error, last_attempt_at=record.last_attempt_at,
                   last_success_at=record.last_success_at, created_at=record.created_at,
                   settings=dict(record.options), secrets=sorted(record.secrets))


class NotifierList(BaseModel):
    items: list[NotifierOut]
    total_count: int


class NotifierTestOut(BaseModel):
    notifier_id: uuid.UUID
    event: str
    event_id: uuid.UUID
    delivered: bool
