"""The outbox's throughput: events committed per second (one per transaction, as features
emit them), then deliveries per second to webhook notifiers on loopback, drained by one
process's delivery worker (fan-out, claims, signed POSTs, recorded outcomes). With `--hung`,
that many more notifiers never answer (each send waits out its `--hung-timeout`): the
figure is then how fast the others still get theirs.

    .venv/bin/python -m bench.notify_delivery                     # both backends
    .venv/bin/python -m bench.notify_delivery --backend sqlite --events 1000 --notifiers 3
    .venv/bin/python -m bench.notify_delivery --events 500 --hung 1
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


async def hung_receiver() -> tuple[web.AppRunner, str]:
    """A webhook that takes every request and never answers."""
    async def hook(request: web.Request) -> web.Response:
        await asyncio.sleep(3600)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"


async def all_arrived(received: list[int], wanted: int) -> None:
    while len(received) < wanted:
        await asyncio.sleep(0.01)


async def run(backend: str, events: int, notifiers: int, batch: int, hung: int,
              hung_timeout: float) -> list[str]:
    async with fresh_database(backend) as url:
        container = bootstrap.build(Settings(
            database_url=url, secret_key="bench-secret", data_dir=tempfile.mkdtemp(),
            notify_batch_size=batch, pool_watches=[]))
        await container.start()
        runner, hook, received = await receiver()
        stuck, stuck_hook = await hung_receiver()
        try:
            for _ in range(notifiers):
                await container.notifiers.create("webhook", {"url": hook, "secret": "s"}, ["*"])
            for _ in range(hung):
                await container.notifiers.create(
                    "webhook", {"url": stuck_hook, "timeout_seconds": hung_timeout}, ["*"])
            started = time.perf_counter()
            for n in range(events):
                async with container.database.writing() as uow:
                    uow.events.add(Event(EventName.SOURCE_FAILED, {"n": n}))
                    await uow.commit()
            emitted = time.perf_counter() - started
            started = time.perf_counter()
            sending = asyncio.ensure_future(container.delivery.run_once())
            # Until the answering notifiers have all theirs (or the one pass ended).
            await asyncio.wait([sending, asyncio.ensure_future(
                all_arrived(received, events * notifiers))],
                return_when=asyncio.FIRST_COMPLETED)
            delivered = time.perf_counter() - started
            # Sends that failed wait for their retry: report what arrived in the one pass.
            arrived = len(received)
            await sending
        finally:
            await stuck.cleanup()
            await runner.cleanup()
            await container.close()
    return [backend, str(events), str(notifiers), str(hung), f"{events / emitted:,.0f}",
            f"{arrived}/{events * notifiers}", f"{arrived / delivered:,.0f}"]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--notifiers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=50, help="deliveries claimed at a time")
    parser.add_argument("--hung", type=int, default=0, help="notifiers that never answer")
    parser.add_argument("--hung-timeout", type=float, default=2.0,
                        help="the hung notifiers' timeout_seconds")
    args = parser.parse_args()
    rows = [["backend", "events", "notifiers", "hung", "emitted/s", "arrived",
             "delivered/s"]]
    for backend in args.backend or ["sqlite", "postgresql"]:
        rows.append(await run(backend, args.events, args.notifiers, args.batch, args.hung,
                              args.hung_timeout))
    print(table(rows))


if __name__ == "__main__":
    asyncio.run(main())
