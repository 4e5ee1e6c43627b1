"""Watched pools: `proxy.pool_low` when the active proxies matching a filter drop under a
line, `proxy.pool_recovered` when they are back over a higher one (hysteresis). The state of
each watch is stored and flipped by one conditional update, in the transaction that writes
the event, so several processes counting at once report a crossing once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from proxyfleet.core.clock import utcnow
from proxyfleet.core.events import Event, EventName
from proxyfleet.core.proxies import Anonymity, ProxyFilter, ProxyProtocol, ProxyStatus
from proxyfleet.notify.rules import Hysteresis
from proxyfleet.storage.uow import Database, UnitOfWork


@dataclass(frozen=True, slots=True)
class WatchedPool:
    name: str
    line: Hysteresis
    protocol: ProxyProtocol | None = None
    country: str | None = None
    anonymity: Anonymity | None = None

    @property
    def wanted(self) -> ProxyFilter:
        return ProxyFilter(status=ProxyStatus.ACTIVE, protocol=self.protocol,
                           country=self.country.upper() if self.country else None,
                           anonymity=self.anonymity)

    def payload(self, active: int) -> dict[str, Any]:
        return {"watch": self.name, "active": active, "threshold": self.line.low,
                "recover_at": self.line.recover,
                "filter": {"protocol": self.protocol, "country": self.country,
                           "anonymity": self.anonymity}}


class PoolWatchService:
    def __init__(self, database: Database, watches: Sequence[WatchedPool], *,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._db = database
        self._watches = list(watches)
        self._now = clock

    async def check(self) -> list[Event]:
        """Count every watched pool and report the ones that crossed a line."""
        reported: list[Event] = []
        for watch in self._watches:
            async with self._db.writing() as uow:
                event = await self._check_one(uow, watch)
                await uow.commit()
            if event is not None:
                reported.append(event)
        return reported

    async def _check_one(self, uow: UnitOfWork, watch: WatchedPool) -> Event | None:
        now = self._now()
        active = await uow.proxies.count(watch.wanted)
        await uow.pool_watches.start(watch.name, active, now)
        was_low = bool(await uow.pool_watches.state(watch.name))
        is_low = watch.line.next_state(was_low, active)
        if is_low == was_low or not await uow.pool_watches.flip(watch.name, was_low, active,
                                                                 now):
            return None
        name = EventName.POOL_LOW if is_low else EventName.POOL_RECOVERED
        event = Event(name, watch.payload(active), occurred_at=now)
        uow.events.add(event)
        return event
