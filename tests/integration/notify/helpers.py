"""Shared steps of the notify tests: emit events as a feature does, make workers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from proxyfleet.bootstrap import Container
from proxyfleet.core.events import Event, EventName
from proxyfleet.notify.delivery import DeliveryPolicy, DeliveryWorker
from proxyfleet.notify.rules import Backoff
from tests.conftest import Member


async def emit(container: Container, name: EventName, payload: dict[str, Any]) -> Event:
    """An event committed the way every feature emits one."""
    event = Event(name, payload)
    async with container.database.writing() as uow:
        uow.events.add(event)
        await uow.commit()
    return event


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def worker(container: Container, *, clock: Callable[[], datetime] | None = None,
           attempts: int = 5, first_retry: float = 10.0,
           claim_seconds: float = 60.0, batch_size: int = 50) -> DeliveryWorker:
    policy = DeliveryPolicy(batch_size, timedelta(seconds=claim_seconds),
                            Backoff(timedelta(seconds=first_retry), timedelta(seconds=600),
                                    attempts))
    if clock is None:
        return DeliveryWorker(container.database, container.notifiers, policy)
    return DeliveryWorker(container.database, container.notifiers, policy, clock=clock)


async def add_webhook(client: httpx.AsyncClient, admin: Member, url: str,
                      subscribes_to: list[str] | None = None,
                      secret: str | None = "hook-secret") -> dict[str, Any]:
    body: dict[str, Any] = {"name": "webhook", "url": url,
                            "subscribes_to": subscribes_to or ["*"]}
    if secret is not None:
        body["secret"] = secret
    response = await client.post("/notifiers", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created
