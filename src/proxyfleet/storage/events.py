"""The event outbox and the notifiers' storage. Never commits.

`EventLog` is what every unit of work carries as `uow.events`: events added there are written
to `events` by `uow.commit()`, in the same transaction as the change that caused them (and
vanish with it on a rollback). `OutboxRepository` fans events out into one delivery per
subscribed notifier and hands deliveries to whichever process claims them first: `FOR UPDATE
SKIP LOCKED` on PostgreSQL, one conditional `UPDATE … RETURNING` under SQLite's single writer.
`NotifiersRepository` keeps notifiers, their secrets sealed with the unit's `SecretBox`.
"""

from __future__ import annotations

import json
import typing
import uuid
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from proxyfleet.core.events import Event, EventName
from proxyfleet.core.notifiers import (
    Delivery,
    DeliveryOutcome,
    DeliveryState,
    NotifierRecord,
)
from proxyfleet.storage.claiming import claimable
from proxyfleet.storage.sealing import SecretBox
from proxyfleet.storage.tables import DeliveryRow, EventRow, NotifierRow, PoolWatchRow

EVENTS = typing.cast(Table, EventRow.__table__)
NOTIFIERS = typing.cast(Table, NotifierRow.__table__)
DELIVERIES = typing.cast(Table, DeliveryRow.__table__)
WATCHES = typing.cast(Table, PoolWatchRow.__table__)


def _event_row(event: Event) -> dict[str, Any]:
    return {"id": event.id, "name": event.name.value, "payload": dict(event.payload),
            "occurred_at": event.occurred_at, "fanned_out_at": None}


class EventLog:
    """`uow.events`: `add()` an event and it is written with the unit's commit."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._pending: list[Event] = []

    def add(self, event: Event) -> None:
        self._pending.append(event)

    async def write(self, event: Event) -> None:
        """Write an event now, in the unit's current transaction (for a repository whose
        change is itself a statement that commits at once, on PostgreSQL's autocommit units)."""
        await self._session.execute(insert(EVENTS), [_event_row(event)])

    async def flush(self) -> None:
        """Write what was added; `uow.commit()` calls this just before it commits."""
        pending, self._pending = self._pending, []
        if pending:
            await self._session.execute(insert(EVENTS), [_event_row(e) for e in pending])


def _notifier_of(row: Any, box: SecretBox) -> NotifierRecord:
    secrets = json.loads(box.open(row.secrets)) if row.secrets else {}
    return NotifierRecord(row.id, row.plugin, dict(row.options), secrets,
                          tuple(row.subscribes_to), row.enabled, row.created_at, row.healthy,
                          row.consecutive_failures, row.last_error, row.last_attempt_at,
                          row.last_success_at)


def _sealed(secrets: dict[str, str], box: SecretBox) -> str | None:
    return box.seal(json.dumps(secrets, sort_keys=True)) if secrets else None


class NotifiersRepository:
    def __init__(self, session: AsyncSession, box: SecretBox) -> None:
        self._session = session
        self._box = box

    async def add(self, notifier: NotifierRecord) -> None:
        await self._session.execute(insert(NOTIFIERS), [{
            "id": notifier.id, "plugin": notifier.plugin, "options": dict(notifier.options),
            "secrets": _sealed(dict(notifier.secrets), self._box),
            "subscribes_to": list(notifier.subscribes_to), "enabled": notifier.enabled,
            "created_at": notifier.created_at, "healthy": True, "consecutive_failures": 0,
            "last_error": None, "last_attempt_at": None, "last_success_at": None}])

    async def get(self, notifier_id: uuid.UUID) -> NotifierRecord | None:
        row = (await self._session.execute(
            select(NOTIFIERS).where(NOTIFIERS.c.id == notifier_id))).first()
        return _notifier_of(row, self._box) if row else None

    async def all(self) -> list[NotifierRecord]:
        rows = await self._session.execute(
            select(NOTIFIERS).order_by(NOTIFIERS.c.created_at, NOTIFIERS.c.id))
        return [_notifier_of(row, self._box) for row in rows]

    async def replace(self, notifier: NotifierRecord) -> None:
        """Store a changed configuration (options, secrets, subscriptions, enabled)."""
        await self._session.execute(
            update(NOTIFIERS).where(NOTIFIERS.c.id == notifier.id).values(
                options=dict(notifier.options),
                secrets=_sealed(dict(notifier.secrets), self._box),
                subscribes_to=list(notifier.subscribes_to), enabled=notifier.enabled))

    async def delete(self, notifier_id: uuid.UUID) -> bool:
        result = await self._session.execute(
            delete(NOTIFIERS).where(NOTIFIERS.c.id == notifier_id))
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def record_health(self, notifier_id: uuid.UUID, error: str | None,
                            at: datetime) -> None:
        values: dict[str, Any] = {"last_attempt_at": at, "healthy": error is None}
        if error is None:
            values |= {"consecutive_failures": 0, "last_success_at": at, "last_error": None}
        else:
            values |= {"consecutive_failures": NOTIFIERS.c.consecutive_failures + 1,
                       "last_error": error[:1000]}
        await self._session.execute(
            update(NOTIFIERS).where(NOTIFIERS.c.id == notifier_id).values(**values))


def _event_of(row: Any) -> Event:
    return Event(EventName(row.name), row.payload, row.event_id, row.occurred_at)


class OutboxRepository:
    """Fan-out, claims and outcomes of deliveries."""

    def __init__(self, session: AsyncSession, box: SecretBox) -> None:
        self._session = session
        self._box = box

    @property
    def _postgresql(self) -> bool:
        return self._session.get_bind().dialect.name == "postgresql"

    async def unfanned(self, limit: int) -> list[tuple[uuid.UUID, str]]:
        """Events not yet fanned out, oldest first; on PostgreSQL locked, skipping those
        another process is fanning out."""
        query = (select(EVENTS.c.id, EVENTS.c.name).where(EVENTS.c.fanned_out_at.is_(None))
                 .order_by(EVENTS.c.occurred_at).limit(limit))
        if self._postgresql:
            query = query.with_for_update(skip_locked=True)
        return [(row.id, row.name) for row in await self._session.execute(query)]

    async def subscriptions(self) -> list[tuple[uuid.UUID, tuple[str, ...]]]:
        rows = await self._session.execute(
            select(NOTIFIERS.c.id, NOTIFIERS.c.subscribes_to)
            .where(NOTIFIERS.c.enabled.is_(True)))
        return [(row.id, tuple(row.subscribes_to)) for row in rows]

    async def fan_out(self, pairs: Sequence[tuple[uuid.UUID, uuid.UUID]],
                      events: Sequence[uuid.UUID], at: datetime) -> None:
        """One pending delivery per (event, notifier) pair, never two (the unique pair),
        and the events marked as fanned out."""
        if pairs:
            dialect_insert = postgresql.insert if self._postgresql else sqlite.insert
            await self._session.execute(
                dialect_insert(DELIVERIES).on_conflict_do_nothing(
                    index_elements=[DELIVERIES.c.event_id, DELIVERIES.c.notifier_id]),
                [{"id": uuid.uuid4(), "event_id": event_id, "notifier_id": notifier_id,
                  "state": DeliveryState.PENDING.value, "attempts": 0, "next_attempt_at": at,
                  "claim_token": None, "claimed_until": None, "last_error": None,
                  "delivered_at": None} for event_id, notifier_id in pairs])
        if events:
            await self._session.execute(
                update(EVENTS).where(EVENTS.c.id.in_(list(events))).values(fanned_out_at=at))

    async def claim(self, now: datetime, until: datetime, limit: int, *,
                    skip: Collection[uuid.UUID] = (),
                    retries_due_by: datetime | None = None) -> list[Delivery]:
        """Claim up to `limit` due deliveries for this process until `until`: pending, due
        (a retry: due by `retries_due_by` too, when given), not to the notifiers in `skip`,
        and not claimed by a process whose claim still holds. Each is counted as an
        attempt."""
        token = uuid.uuid4()
        enabled = select(NOTIFIERS.c.id).where(NOTIFIERS.c.enabled.is_(True))
        if skip:
            enabled = enabled.where(NOTIFIERS.c.id.not_in(list(skip)))
        due_by = DELIVERIES.c.next_attempt_at <= now
        if retries_due_by is not None:
            due_by = and_(due_by, or_(DELIVERIES.c.attempts == 0,
                                      DELIVERIES.c.next_attempt_at <= retries_due_by))
        free = and_(DELIVERIES.c.state == DeliveryState.PENDING.value, due_by,
                    or_(DELIVERIES.c.claimed_until.is_(None), DELIVERIES.c.claimed_until < now),
                    # A notifier switched off keeps its deliveries until it is on again.
                    DELIVERIES.c.notifier_id.in_(enabled.scalar_subquery()))
        due = select(DELIVERIES.c.id).where(free).order_by(DELIVERIES.c.next_attempt_at) \
            .limit(limit)
        claimed = await self._session.execute(
            update(DELIVERIES).where(DELIVERIES.c.id.in_(claimable(due, self._postgresql)),
                                     free)
            .values(claim_token=token, claimed_until=until,
                    attempts=DELIVERIES.c.attempts + 1)
            .returning(DELIVERIES.c.id))
        if not claimed.all():
            return []
        return await self._claimed(token)

    async def _claimed(self, token: uuid.UUID) -> list[Delivery]:
        rows = await self._session.execute(
            select(DELIVERIES.c.id.label("delivery_id"), DELIVERIES.c.attempts,
                   EVENTS.c.id.label("event_id"), EVENTS.c.name, EVENTS.c.payload,
                   EVENTS.c.occurred_at, NOTIFIERS)
            .join(EVENTS, EVENTS.c.id == DELIVERIES.c.event_id)
            .join(NOTIFIERS, NOTIFIERS.c.id == DELIVERIES.c.notifier_id)
            .where(DELIVERIES.c.claim_token == token))
        return [Delivery(row.delivery_id, _event_of(row), _notifier_of(row, self._box),
                         row.attempts, token) for row in rows]

    async def record(self, outcome: DeliveryOutcome, retry_at: datetime | None) -> bool:
        """Record what one claimed delivery did, if this process's claim still holds: done,
        due again at `retry_at`, or given up (`retry_at` None). False when the claim lapsed
        and another process took the delivery over."""
        delivery = outcome.delivery
        values: dict[str, Any] = {"claim_token": None, "claimed_until": None}
        if outcome.succeeded:
            values |= {"state": DeliveryState.DELIVERED.value, "delivered_at": outcome.at,
                       "last_error": None}
        elif retry_at is None:
            values |= {"state": DeliveryState.FAILED.value, "last_error": outcome.error}
        else:
            values |= {"next_attempt_at": retry_at, "last_error": (outcome.error or "")[:1000]}
        result = await self._session.execute(
            update(DELIVERIES).where(DELIVERIES.c.id == delivery.id,
                                     DELIVERIES.c.claim_token == delivery.claim_token)
            .values(**values))
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def purge(self, before: datetime) -> int:
        """Forget events fanned out before `before` whose deliveries are all done (delivered
        or given up); their delivery rows go with them."""
        waiting = select(DELIVERIES.c.id).where(
            DELIVERIES.c.event_id == EVENTS.c.id,
            DELIVERIES.c.state == DeliveryState.PENDING.value)
        result = await self._session.execute(
            delete(EVENTS).where(EVENTS.c.fanned_out_at < before, ~waiting.exists()))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def counts(self) -> dict[tuple[uuid.UUID, str], int]:
        """Deliveries per notifier and state."""
        rows = await self._session.execute(
            select(DELIVERIES.c.notifier_id, DELIVERIES.c.state, func.count())
            .group_by(DELIVERIES.c.notifier_id, DELIVERIES.c.state))
        return {(row[0], row[1]): int(row[2]) for row in rows}

    async def events_named(self, names: Iterable[str]) -> list[Event]:
        """Stored events with these names, oldest first (for tests and the admin)."""
        rows = await self._session.execute(
            select(EVENTS.c.id.label("event_id"), EVENTS.c.name, EVENTS.c.payload,
                   EVENTS.c.occurred_at).where(EVENTS.c.name.in_(list(names)))
            .order_by(EVENTS.c.occurred_at))
        return [_event_of(row) for row in rows]


class PoolWatchRepository:
    """The hysteresis state of each watched pool."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def state(self, name: str) -> bool | None:
        return typing.cast(bool | None, await self._session.scalar(
            select(WATCHES.c.is_low).where(WATCHES.c.name == name)))

    async def start(self, name: str, active: int, at: datetime) -> None:
        dialect_insert = (postgresql.insert if self._session.get_bind().dialect.name
                          == "postgresql" else sqlite.insert)
        await self._session.execute(dialect_insert(WATCHES).on_conflict_do_nothing(
            index_elements=[WATCHES.c.name]), [{"name": name, "is_low": False,
                                                "active": active, "changed_at": at}])

    async def flip(self, name: str, was_low: bool, active: int, at: datetime) -> bool:
        """Move a watch out of `was_low`; only the process whose update lands reports it."""
        result = await self._session.execute(
            update(WATCHES).where(WATCHES.c.name == name, WATCHES.c.is_low.is_(was_low))
            .values(is_low=not was_low, active=active, changed_at=at))
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]
