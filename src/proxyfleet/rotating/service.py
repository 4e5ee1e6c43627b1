"""`GatewayService`: the rotating gateway as a running thing — its listener (the engine's
`ProxyServer` with the `GatewayRouter`), and the flush that writes what the hot path counted
(usage, bans, proxies to re-check soon) to the database in batches and takes in the bans
other gateway processes wrote, and adds the listener's requests and bytes to the metrics.
Also what the API asks of the gateway: a user's usage, the bans in force. Commits here.

Imports `core`, the engine, `storage` (its unit of work), `metrics` and this package.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime

import structlog

from proxyfleet.core.clock import utcnow
from proxyfleet.core.gateway import Ban, Usage
from proxyfleet.gateway.counters import TrafficCounters
from proxyfleet.gateway.engine import ListenerConfig
from proxyfleet.gateway.server import ProxyServer
from proxyfleet.gateway.tasks import TaskKeeper
from proxyfleet.metrics import Metrics
from proxyfleet.rotating.router import GatewayRouter
from proxyfleet.storage.uow import Database

log = structlog.get_logger(__name__)


class GatewayService:
    def __init__(self, database: Database, router: GatewayRouter, config: ListenerConfig, *,
                 flush_seconds: float = 2.0, clock: Callable[[], datetime] = utcnow,
                 metrics: Metrics | None = None) -> None:
        self._db = database
        self._metrics = metrics
        self._counted = TrafficCounters()  # what `count_traffic` has passed on so far
        self.router = router
        self.config = config
        self._flush_seconds = flush_seconds
        self._now = clock
        self._server: ProxyServer | None = None
        self._keeper = TaskKeeper()
        self._flush_lock = asyncio.Lock()

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            raise RuntimeError("the gateway is not running")
        return self._server.address

    @property
    def server(self) -> ProxyServer | None:
        return self._server

    async def start(self) -> None:
        await self.router.prepare()
        server = ProxyServer(self.config, router=self.router)
        await server.start()
        self._server, self._counted = server, TrafficCounters()
        self._keeper.spawn(self._flush_loop(), name="gateway flush")
        self._keeper.spawn(self.router.limits.run(), name="gateway limits")
        log.info("gateway listening", address=f"{server.address[0]}:{server.address[1]}")

    async def close(self) -> None:
        await self._keeper.close()
        if self._server is not None:
            await self._server.close()
        try:
            await self.flush()
        except Exception as error:  # the database may be gone already at shutdown
            log.warning("gateway: last flush failed", error=str(error))

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self._flush_seconds)
            try:
                await self.flush()
            except Exception as error:
                # What was not written stays pending for the next round.
                log.warning("gateway flush failed", error=str(error))

    def count_traffic(self) -> None:
        """Add the listener's requests and bytes since the last call to the metrics."""
        if self._metrics is None or self._server is None:
            return
        now, before = self._server.counters.snapshot(), self._counted
        self._counted = now
        earlier = before.request_counts()
        self._metrics.gateway_traffic(
            {(way.value, outcome.value): n - earlier.get((way, outcome), 0)
             for (way, outcome), n in now.request_counts().items()},
            now.bytes_received - before.bytes_received, now.bytes_sent - before.bytes_sent)

    async def flush(self) -> None:
        """Write the usage, bans and proxies to re-check counted since the last flush (on
        failure they stay pending), then take in every process's bans. The metrics get the
        traffic first: they need no database."""
        self.count_traffic()
        async with self._flush_lock:
            router = self.router
            usage, bans = router.tally.drain(), router.bans.unsaved()
            failing, router.failing = list(router.failing), set()
            now = self._now()
            try:
                async with self._db.writing() as uow:
                    await uow.gateway.add_usage(usage, now)
                    await uow.gateway.put_bans(bans)
                    await uow.gateway.check_soon(failing, now)
                    await uow.gateway.forget_bans_before(now)
                    await uow.commit()
            except BaseException:
                router.tally.restore(usage)
                router.bans.restore(bans)
                router.failing.update(failing)
                raise
            async with self._db.reading() as uow:
                router.bans.merge(await uow.gateway.bans(now, limit=100_000))

    async def usage(self, user_id: uuid.UUID) -> Usage:
        """What the user has done through the gateway: stored, plus this process's unflushed
        counts."""
        async with self._db.reading() as uow:
            stored = await uow.gateway.usage(user_id)
        return stored + self.router.tally.pending(user_id)

    async def bans(self, domain: str | None = None) -> list[Ban]:
        await self.flush()
        async with self._db.reading() as uow:
            return await uow.gateway.bans(self._now(), domain=domain)
