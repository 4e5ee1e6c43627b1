"""What a notifier is (`Notifier`), the base class that registers notifier plugins, and what
every plugin may use: the message an event becomes, the error a failed send raises.

A plugin has a `name`, a pydantic `Config` (its settings; fields typed `SecretStr` are sealed
at rest and never shown again) and `send(event)`, which raises `DeliveryFailed` when the
other side did not take the event. Imports `core`, pydantic and httpx.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import httpx
from pydantic import BaseModel, ConfigDict

from proxyfleet.core.clock import isoformat_z
from proxyfleet.core.events import Event


class DeliveryFailed(Exception):
    """The notifier's other end did not take the event (refused, failed, timed out)."""


class NotifierConfig(BaseModel):
    """Base of plugin settings: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True, slots=True)
class NotifierEnvironment:
    """What every notifier shares: the deployment's settings, and one HTTP client (making
    one per send cost 100 ms of CPU for its TLS context). Built by the composition root,
    closed with it."""

    http: httpx.AsyncClient
    telegram_api_url: str = "https://api.telegram.org"

    @classmethod
    def create(cls, telegram_api_url: str) -> NotifierEnvironment:
        # trust_env=False: a proxy from the environment must not see our events.
        return cls(httpx.AsyncClient(trust_env=False), telegram_api_url)

    async def close(self) -> None:
        await self.http.aclose()


@runtime_checkable
class Notifier(Protocol):
    async def send(self, event: Event) -> None: ...


@runtime_checkable
class NotifierKind(Protocol):
    """A notifier plugin: a name, a settings model, and a way to build a notifier."""

    name: str
    Config: type[NotifierConfig]

    def __call__(self, config: Any, environment: NotifierEnvironment) -> Notifier: ...


class NotifierPlugin:
    """Base of self-registering notifiers: a subclass that sets `name` is registered."""

    name: ClassVar[str]
    Config: ClassVar[type[NotifierConfig]] = NotifierConfig

    _catalogue: ClassVar[dict[str, type[NotifierPlugin]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            NotifierPlugin._catalogue[cls.name] = cls

    @classmethod
    def registered(cls) -> list[type[NotifierPlugin]]:
        return list(NotifierPlugin._catalogue.values())

    async def send(self, event: Event) -> None:
        raise NotImplementedError


def event_document(event: Event) -> dict[str, Any]:
    """The event as every notifier sends it (the webhook's JSON body)."""
    return {"id": str(event.id), "event": event.name.value,
            "occurred_at": isoformat_z(event.occurred_at), "payload": dict(event.payload)}


def event_subject(event: Event) -> str:
    return f"[proxyfleet] {event.name.value}"


def event_text(event: Event) -> str:
    """A short human message: the event's name and time, then its payload, one key a line."""
    lines = [f"proxyfleet: {event.name.value}", f"at {isoformat_z(event.occurred_at)}"]
    for key, value in event.payload.items():
        shown = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        lines.append(f"{key}: {shown}")
    return "\n".join(lines)
