"""The outbox's throughput: events committed per second (one per transaction, as features
emit them), then deliveries per second to webhook notifiers on loopback, drained by one
process's delivery worker (fan-out, claims, signed POSTs, recorded outcomes).

    .venv/bin/python -m bench.notify_delivery                     # both backends
    .venv/bin/python -m bench.notify_delivery --backend sqlite --events 1000 --notifiers 3
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

from aiohttp import web

from bench.common import fresh_database, table
from proxyfleet import bootstrap
from proxyfleet.core.events import Event, EventName
from proxyfleet.settings import Settings


async def receiver() -> tuple[web.AppRunner, str, list[int]]:
    received: list[int] = []

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        received.append(1)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/hook", received


async def run(backend: str, events: int, notifiers: int, batch: int) -> list[str]:
    async with fresh_database(backend) as url:
        container = bootstrap.build(Settings(
            database_url=url, secret_key="bench-secret", data_dir=tempfile.mkdtemp(),
            notify_batch_size=batch, pool_watches=[]))
        await container.start()
        runner, hook, received = await receiver()
        try:
            for _ in range(notifiers):
                await container.notifiers.create("webhook", {"url": hook, "secret": "s"}, ["*"])
            started = time.perf_counter()
            for n in range(events):
                async with container.database.writing() as uow:
                    uow.events.add(Event(EventName.SOURCE_FAILED, {"n": n}))
                    await uow.commit()
            emitted = time.perf_counter() - started
            started = time.perf_counter()
            await container.delivery.run_once()
            delivered = time.perf_counter() - started
            # Sends that failed wait for their retry: report what arrived in the one pass.
            arrived = len(received)
        finally:
            await runner.cleanup()
            await container.close()
    return [backend, str(events), str(notifiers), f"{events / emitted:,.0f}",
            f"{arrived}/{events * notifiers}", f"{arrived / delivered:,.0f}"]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--notifiers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=50, help="deliveries claimed at a time")
    args = parser.parse_args()
    rows = [["backend", "events", "notifiers", "emitted/s", "arrived", "delivered/s"]]
    for backend in args.backend or ["sqlite", "postgresql"]:
        rows.append(await run(backend, args.events, args.notifiers, args.batch))
    print(table(rows))


if __name__ == "__main__":
    asyncio.run(main())
