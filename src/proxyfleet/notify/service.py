"""Notifier use cases for admins: add, list, change, delete, test; and what GET /stats/plugins
lists. A notifier's settings are its plugin's `Config`; the fields typed `SecretStr` are kept
apart and sealed by storage, and never returned."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypedDict

from pydantic import BaseModel, SecretStr, ValidationError

from proxyfleet.core.clock import utcnow
from proxyfleet.core.errors import InvalidInput, NotFound, UpstreamFailed
from proxyfleet.core.events import Event, EventName
from proxyfleet.core.notifiers import NotifierRecord
from proxyfleet.notify.notifiers import (
    DeliveryFailed,
    Notifier,
    NotifierEnvironment,
    NotifierRegistry,
)
from proxyfleet.notify.rules import valid_pattern
from proxyfleet.storage.uow import Database

# A send that hangs past this is a failure, whatever the plugin's own timeout says.
SEND_DEADLINE_SECONDS = 130.0


class NotifierNotFound(NotFound):
    code = "NOTIFIER_NOT_FOUND"


class NotifierTestFailed(UpstreamFailed):
    code = "NOTIFIER_TEST_FAILED"


class NotifierDescription(TypedDict):
    name: str
    healthy: bool
    subscribes_to: list[str]


@dataclass(frozen=True, slots=True)
class SplitSettings:
    options: dict[str, Any]
    secrets: dict[str, str]


def _field_errors(error: ValidationError) -> dict[str, Any]:
    return {"fields": [{"field": ".".join(str(p) for p in ("body", *e["loc"])),
                        "message": e["msg"], "type": e["type"]} for e in error.errors()]}


def split(config: BaseModel) -> SplitSettings:
    """A validated config as stored: plain options (JSON) and open secrets."""
    secrets = {name: value.get_secret_value() for name in type(config).model_fields
               if isinstance(value := getattr(config, name), SecretStr)}
    options = {name: value for name, value in config.model_dump(mode="json").items()
               if name not in secrets}
    return SplitSettings(options, secrets)


def check_patterns(patterns: Iterable[str]) -> tuple[str, ...]:
    found = tuple(dict.fromkeys(patterns))
    wrong = [p for p in found if not valid_pattern(p)]
    if wrong or not found:
        raise InvalidInput("subscribes_to takes patterns such as `*`, `credits.*` or "
                           "`proxy.pool_low`.", {"subscribes_to": list(found), "invalid": wrong})
    return found


class NotifiersService:
    def __init__(self, database: Database, registry: NotifierRegistry,
                 environment: NotifierEnvironment, *,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._db = database
        self._registry = registry
        self._environment = environment
        self._now = clock

    def _validated(self, plugin: str, settings: Mapping[str, Any]) -> BaseModel:
        try:
            return self._registry.get(plugin).Config.model_validate(dict(settings))
        except ValidationError as error:
            raise InvalidInput("The notifier's settings are not valid.",
                               _field_errors(error)) from None

    def build(self, record: NotifierRecord) -> Notifier:
        """The plugin instance for a stored notifier."""
        kind = self._registry.get(record.plugin)
        config = kind.Config.model_validate({**record.options, **record.secrets})
        return kind(config, self._environment)

    async def create(self, plugin: str, settings: Mapping[str, Any],
                     subscribes_to: Iterable[str], enabled: bool = True) -> NotifierRecord:
        stored = split(self._validated(plugin, settings))
        record = NotifierRecord(uuid.uuid4(), plugin, stored.options, stored.secrets,
                                check_patterns(subscribes_to), enabled, self._now(), True, 0,
                                None, None, None)
        async with self._db.writing() as uow:
            await uow.notifiers.add(record)
            await uow.commit()
        return record

    async def get(self, notifier_id: uuid.UUID) -> NotifierRecord:
        async with self._db.reading() as uow:
            record = await uow.notifiers.get(notifier_id)
        if record is None:
            raise NotifierNotFound("No such notifier.", {"notifier_id": str(notifier_id)})
        return record

    async def all(self) -> list[NotifierRecord]:
        async with self._db.reading() as uow:
            return await uow.notifiers.all()

    async def change(self, notifier_id: uuid.UUID, settings: Mapping[str, Any],
                     subscribes_to: Iterable[str] | None,
                     enabled: bool | None) -> NotifierRecord:
        """Change some settings (the others, secrets included, stay), the subscriptions, or
        whether the notifier is on."""
        async with self._db.writing() as uow:
            record = await uow.notifiers.get(notifier_id)
            if record is None:
                raise NotifierNotFound("No such notifier.", {"notifier_id": str(notifier_id)})
            merged = {**record.options, **record.secrets, **settings}
            stored = split(self._validated(record.plugin, merged))
            changed = replace(
                record, options=stored.options, secrets=stored.secrets,
                subscribes_to=(record.subscribes_to if subscribes_to is None
                               else check_patterns(subscribes_to)),
                enabled=record.enabled if enabled is None else enabled)
            await uow.notifiers.replace(changed)
            await uow.commit()
        return changed

    async def delete(self, notifier_id: uuid.UUID) -> None:
        """Delete a notifier and its pending deliveries."""
        async with self._db.writing() as uow:
            if not await uow.notifiers.delete(notifier_id):
                raise NotifierNotFound("No such notifier.", {"notifier_id": str(notifier_id)})
            await uow.commit()

    async def test(self, notifier_id: uuid.UUID) -> Event:
        """Send a `notifier.test` event now (not through the outbox) and record the outcome
        as the notifier's health; raises NotifierTestFailed when it did not arrive."""
        record = await self.get(notifier_id)
        event = Event(EventName.NOTIFIER_TEST, {
            "notifier_id": str(record.id), "message": "A test message from proxyfleet."})
        error = await send_once(self.build(record), event)
        async with self._db.writing() as uow:
            await uow.notifiers.record_health(record.id, error, self._now())
            await uow.commit()
        if error is not None:
            raise NotifierTestFailed("The test message was not delivered.",
                                     {"notifier_id": str(record.id), "error": error})
        return event

    async def close(self) -> None:
        await self._environment.close()

    async def describe(self) -> list[NotifierDescription]:
        """What GET /stats/plugins lists: each configured notifier's plugin, health and
        subscriptions."""
        return [NotifierDescription(name=record.plugin, healthy=record.healthy,
                                    subscribes_to=list(record.subscribes_to))
                for record in await self.all()]


async def send_once(notifier: Notifier, event: Event) -> str | None:
    """Send one event; the error as text, or None when it was taken."""
    try:
        await asyncio.wait_for(notifier.send(event), SEND_DEADLINE_SECONDS)
    except DeliveryFailed as error:
        return str(error) or type(error).__name__
    except TimeoutError:
        return "timed out"
    # An outside plugin may raise anything; it is that notifier's failure, not ours.
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return None
