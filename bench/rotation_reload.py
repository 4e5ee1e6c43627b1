"""The rotation snapshot's reload: what one costs a process that hands out proxies (`serve`,
`gateway`), for a pool of N active proxies, and the longest the event loop stood still
during it (what a gateway client waiting on that loop feels).

Each reload is timed three ways: with nothing changed since the last (the idle pool), with a
tenth of the rows changed (counters of real traffic, check rounds), with every row changed.
Background reloads come no closer together than `RELOAD_SPACING` times the last one's time,
so reloads take at most 1/RELOAD_SPACING of one core, however short
`rotation_refresh_seconds` is.

    .venv/bin/python -m bench.rotation_reload [--proxies 10000] [--backend sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

from sqlalchemy import text

from bench.common import fresh_database, table
from bench.leases import SECRET
from proxyfleet import bootstrap
from proxyfleet.core.proxies import ProxyAddress, ProxyOrigin, ProxyProtocol
from proxyfleet.pool.rotation import RELOAD_SPACING, RotationService
from proxyfleet.runtime import tune_collector
from proxyfleet.settings import Settings
from proxyfleet.storage.uow import Database


async def _stall_probe(stop: asyncio.Event, longest: list[float]) -> None:
    """Record the longest gap between two turns of a task that asks to run every 1 ms."""
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        longest[0] = max(longest[0], now - last - 0.001)
        last = now


async def _timed_reload(rotation: RotationService) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, longest stall seconds) of one reload."""
    stop, longest = asyncio.Event(), [0.0]
    probe = asyncio.create_task(_stall_probe(stop, longest))
    await asyncio.sleep(0.01)
    longest[0] = 0.0
    wall, cpu = time.perf_counter(), time.process_time()
    await rotation.refresh()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stop.set()
    await probe
    return wall, cpu, longest[0]


async def _touch(database: Database, share: float) -> None:
    """Change `share` of the active rows (their request counters), as traffic would."""
    modulo = max(1, round(1 / share))
    async with database.engines.writer.begin() as conn:
        await conn.execute(text(
            "UPDATE proxies SET total_requests = total_requests + 1 "
            f"WHERE port % {modulo} = 0"))


async def run(backend: str, proxies: int, rounds: int) -> list[list[str]]:
    rows = []
    async with fresh_database(backend) as url:
        # The container's own reloads are put off: the bench times its own.
        container = bootstrap.build(Settings(database_url=url, secret_key=SECRET,
                                             data_dir=tempfile.mkdtemp(),
                                             rotation_refresh_seconds=3600))
        await container.start()
        database = container.database
        await container.inventory.add((ProxyAddress("10.9.0.1", 1 + i, ProxyProtocol.HTTP)
                                       for i in range(proxies)), ProxyOrigin.MANUAL)
        async with database.engines.writer.begin() as conn:
            await conn.execute(text("UPDATE proxies SET status = 'active', score = 0.5"))
        rotation = RotationService(database)
        tune_collector()  # as every proxyfleet process does
        await rotation.refresh()  # the first reload makes every candidate
        for label, share in (("nothing", 0.0), ("a tenth", 0.1), ("every row", 1.0)):
            best = (float("inf"), float("inf"), float("inf"))
            made = 0
            for _ in range(rounds):
                if share:
                    await _touch(database, share)
                timing = await _timed_reload(rotation)
                best = min(best, timing, key=lambda t: t[1])
                made = rotation.remade
            wall, cpu, stall = best
            rows.append([backend, str(proxies), label, str(made), f"{wall * 1000:.0f}",
                         f"{cpu * 1000:.0f}", f"{stall * 1000:.1f}"])
        await container.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    parser.add_argument("--proxies", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3, help="reloads per case; the one "
                        "with the least CPU is shown")
    options = parser.parse_args()
    header = ["backend", "proxies", "changed", "remade", "wall ms", "CPU ms",
              "longest stall ms"]
    rows = [header]
    for backend in options.backend or ["sqlite", "postgresql"]:
        rows += asyncio.run(run(backend, options.proxies, options.rounds))
    print(table(rows))
    print(f"Background reloads take at most {100 / RELOAD_SPACING:.0f} % of a process "
          f"(each waits {RELOAD_SPACING:g} times as long as the last one took).")


if __name__ == "__main__":
    main()
