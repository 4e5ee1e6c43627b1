"""Seed 000's use cases: the manager's proxies (rows of the one inventory with an integer id),
each with its account sessions; enabling, sharing, removing; outcome reports; the next proxy
from the rotation service for clients that rotate themselves.

Imports `core`, the rotation service and the storage interfaces.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from proxyfleet.core.clock import utcnow
from proxyfleet.core.errors import Conflict, NotFound
from proxyfleet.core.manager import ManagedProxy
from proxyfleet.core.proxies import ProxyAddress
from proxyfleet.core.rotation import Pick, Want
from proxyfleet.pool.rotation import RotationService
from proxyfleet.storage.managed import EndpointTaken
from proxyfleet.storage.sessions import SessionCookieTaken
from proxyfleet.storage.uow import Database

# Seed-000 ids whose proxy's UUID a process remembers for reports.
NUMBERS_KEPT = 100_000


class DuplicateProxy(Conflict):
    code = "DUPLICATE_PROXY"


class DuplicateSession(Conflict):
    code = "DUPLICATE_SESSION"


class ProxyNotFound(NotFound):
    code = "NOT_FOUND"


class NoProxyAvailable(NotFound):
    code = "NO_PROXY_AVAILABLE"


@dataclass(frozen=True, slots=True)
class NewProxy:
    address: ProxyAddress
    session: str
    shared: bool = False
    owner_id: uuid.UUID | None = None
    hourly_budget: int | None = None


@dataclass(frozen=True, slots=True)
class Changes:
    """What a PATCH changes; None leaves a field as it is. `hourly_budget` (the proxy's own,
    overriding the rotation setting) is changed only with `sets_budget`; None then removes
    it, so the setting applies again."""

    is_active: bool | None = None
    shared: bool | None = None
    hourly_budget: int | None = None
    sets_budget: bool = False

    def values(self) -> dict[str, bool | int | None]:
        changed: dict[str, bool | int | None] = {
            name: value for name, value in
            (("is_active", self.is_active), ("shared", self.shared)) if value is not None}
        if self.sets_budget:
            changed["hourly_budget"] = self.hourly_budget
        return changed


class ManagerService:
    def __init__(self, database: Database, rotation: RotationService, *,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._db = database
        self._rotation = rotation
        self._now = clock
        self._ids: dict[int, uuid.UUID] = {}

    async def listing(self) -> list[ManagedProxy]:
        async with self._db.reading() as uow:
            return await uow.managed.listing(self._now())

    async def get(self, number: int) -> ManagedProxy:
        async with self._db.reading() as uow:
            found = await uow.managed.get(number, self._now(), with_sessions=True)
        if found is None:
            raise _missing(number)
        return found

    async def add(self, new: NewProxy) -> ManagedProxy:
        """The proxy and its session, both or neither."""
        now = self._now()
        async with self._db.writing() as uow:
            try:
                proxy_id = await uow.managed.add(new.address, new.shared, now,
                                                 new.hourly_budget)
                await uow.sessions.add(proxy_id, new.session, now, owner_id=new.owner_id)
            except EndpointTaken:
                raise _duplicate_proxy(new.address) from None
            except SessionCookieTaken:
                raise DuplicateSession("This session cookie is already bound to a proxy.",
                                       {"field": "session"}) from None
            added = await uow.managed.get_by_id(proxy_id, now, with_sessions=True)
            await uow.commit()
        assert added is not None
        return added

    async def remove(self, number: int) -> None:
        async with self._db.writing() as uow:
            if not await uow.managed.remove(number):
                raise _missing(number)
            await uow.commit()
        await self._rotation.refresh()

    async def change(self, number: int, changes: Changes) -> ManagedProxy:
        async with self._db.writing() as uow:
            if not await uow.managed.change(number, self._now(), **changes.values()):
                raise _missing(number)
            changed = await uow.managed.get(number, self._now())
            await uow.commit()
        await self._rotation.refresh()
        assert changed is not None
        return changed

    async def report(self, number: int, ok: bool) -> ManagedProxy:
        """A client's outcome of one request through the proxy, stored before it returns."""
        proxy_id = self._ids.get(number)
        if proxy_id is None:
            async with self._db.reading() as uow:
                found = await uow.managed.get(number, self._now())
            if found is None:
                raise _missing(number)
            proxy_id = self._remember(number, found.proxy_id)
        await self._rotation.record_durably(proxy_id, ok)
        async with self._db.reading() as uow:
            reported = await uow.managed.get(number, self._now())
        if reported is None or reported.proxy_id != proxy_id:  # removed meanwhile
            self._ids.pop(number, None)
            raise _missing(number)
        return reported

    def _remember(self, number: int, proxy_id: uuid.UUID) -> uuid.UUID:
        # A number never moves to another proxy, so the pair can be kept; a report for a
        # removed proxy counts nothing (its row is gone) and is answered not_found.
        if len(self._ids) >= NUMBERS_KEPT:
            self._ids.clear()
        self._ids[number] = proxy_id
        return proxy_id

    async def next_proxy(self, want: Want) -> tuple[Pick, ManagedProxy]:
        """The rotation's next proxy for `want`, with its seed-000 id (given if it had none)."""
        pick = await self._rotation.pick(want)
        if pick is None:
            raise NoProxyAvailable("No proxy may be handed out for these filters now.")
        number = pick.number
        if number is not None:
            known = self._rotation.counters(pick.proxy_id)
            if known is not None:  # the usual case: no database round trip
                return pick, known
        else:
            number = await self._rotation.number_of(pick.proxy_id)
        async with self._db.reading() as uow:
            found = await uow.managed.get(number, self._now()) if number else None
        if found is None:  # removed since the snapshot was taken
            raise NoProxyAvailable("No proxy may be handed out for these filters now.")
        return pick, found


def _missing(number: int) -> ProxyNotFound:
    return ProxyNotFound(f"Proxy {number} not found.", {"proxy_id": number})


def _duplicate_proxy(address: ProxyAddress) -> DuplicateProxy:
    return DuplicateProxy(f"A proxy at {address.netloc} already exists.",
                          {"ip": address.host, "port": address.port})
