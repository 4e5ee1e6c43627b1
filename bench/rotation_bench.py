"""The rotation service's speed: `GET /api/proxies/next` picks and `POST /api/proxies/{id}/report`
reports per second over real HTTP (64 concurrent clients, 10,000 proxies, one `proxyfleet
serve`), beside lease acquire + release pairs on the same server and database; and picks per
second in process (the gateway's hot path: no HTTP, no database) for each strategy.

    .venv/bin/python -m bench.rotation_bench                  # both backends
    .venv/bin/python -m bench.rotation_bench --backend sqlite --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable

import aiohttp
from sqlalchemy import text

from bench.common import fresh_database, percentile, table
from bench.leases import SECRET, client_loop, free_port, prepare, wait_up
from proxyfleet import bootstrap
from proxyfleet.core.accounts import Role
from proxyfleet.core.rotation import Strategy, Want
from proxyfleet.settings import Settings
from proxyfleet.storage.database import Engines

# Proxies the report phase reports on (ids 1..REPORTED).
REPORTED = 200


async def number_all(url: str) -> None:
    """Give every proxy its seed-000 id up front, as manager proxies have theirs from
    creation: the timed picks then measure the steady state, not first-time numbering."""
    engines = Engines.create(url)
    async with engines.writer.begin() as conn:
        await conn.execute(text(
            "UPDATE proxies SET number = ranked.n FROM (SELECT id, row_number() OVER "
            "(ORDER BY id) AS n FROM proxies) AS ranked WHERE proxies.id = ranked.id"))
        await conn.execute(text(
            "INSERT INTO id_sequences (name, value) SELECT 'proxy_number', count(*) "
            "FROM proxies"))
    await engines.dispose()


async def admin_key(url: str) -> str:
    container = bootstrap.build(Settings(database_url=url, secret_key=SECRET,
                                         data_dir=tempfile.mkdtemp()))
    _, issued = await container.accounts.register("rotation@bench.test", None, Role.ADMIN)
    await container.database.dispose()
    return issued.raw


Step = Callable[[aiohttp.ClientSession, int], Awaitable[int]]


async def timed(http: aiohttp.ClientSession, step: Step, clients: int,
                seconds: float) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    until = time.perf_counter() + seconds

    async def loop(client: int) -> int:
        nonlocal errors
        done = 0
        while time.perf_counter() < until:
            started = time.perf_counter()
            status = await step(http, client)
            latencies.append((time.perf_counter() - started) * 1000)
            if status != 200:
                errors += 1
            done += 1
        return done

    started = time.perf_counter()
    counts = await asyncio.gather(*(loop(n) for n in range(clients)))
    return sum(counts) / (time.perf_counter() - started), latencies, errors


async def http_phases(backend: str, proxies: int, clients: int,
                      seconds: float) -> list[list[str]]:
    async with fresh_database(backend) as url:
        keys = await prepare(url, proxies, clients)
        await number_all(url)
        admin = {"Authorization": f"Bearer {await admin_key(url)}"}
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "proxyfleet", "serve"],
            env=os.environ | {"PROXYFLEET_DATABASE_URL": url, "PROXYFLEET_SECRET_KEY": SECRET,
                              "PROXYFLEET_PORT": str(port), "PROXYFLEET_LOG_LEVEL": "warning",
                              "PROXYFLEET_DATA_DIR": tempfile.mkdtemp(),
                              "PROXYFLEET_CHECKING_ENABLED": "false"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        rows = []
        try:
            await wait_up(base)
            connector = aiohttp.TCPConnector(limit=clients)
            async with aiohttp.ClientSession(connector=connector) as http:
                async def pick(session: aiohttp.ClientSession, _: int) -> int:
                    async with session.get(f"{base}/api/proxies/next", headers=admin) as got:
                        await got.read()
                        return got.status

                async def report(session: aiohttp.ClientSession, _: int) -> int:
                    number = random.randint(1, REPORTED)
                    async with session.post(f"{base}/api/proxies/{number}/report",
                                            headers=admin,
                                            json={"success": random.random() < 0.9}) as got:
                        await got.read()
                        return got.status

                for name, step in (("GET /api/proxies/next", pick),
                                   ("POST /api/proxies/{id}/report", report)):
                    rate, latencies, errors = await timed(http, step, clients, seconds)
                    rows.append([backend, name, f"{rate:,.0f}",
                                 f"{percentile(latencies, 50):.1f}",
                                 f"{percentile(latencies, 95):.1f}", str(errors)])
                latencies, errors_seen = [], []
                started = time.perf_counter()
                pairs = await asyncio.gather(*(
                    client_loop(http, base, keys[n], started + seconds, latencies, errors_seen)
                    for n in range(clients)))
                rate = sum(pairs) / (time.perf_counter() - started)
                rows.append([backend, "lease acquire+release (pairs)", f"{rate:,.0f}",
                             f"{percentile(latencies, 50):.1f}",
                             f"{percentile(latencies, 95):.1f}", str(len(errors_seen))])
        finally:
            process.terminate()
            process.wait(timeout=30)
    return rows


async def in_process(backend: str, proxies: int, picks: int) -> list[list[str]]:
    """`RotationService.pick` on a snapshot of `proxies`, as the gateway calls it."""
    async with fresh_database(backend) as url:
        await prepare(url, proxies, 0)
        container = bootstrap.build(Settings(database_url=url, secret_key=SECRET,
                                             data_dir=tempfile.mkdtemp()))
        await container.start()
        rows = []
        try:
            for strategy in Strategy:
                want = Want(strategy=strategy, key="bench" if strategy is Strategy.STICKY
                            else None)
                started = time.perf_counter()
                for _ in range(picks):
                    chosen = await container.rotation.pick(want)
                    assert chosen is not None
                    container.rotation.record(chosen.proxy_id, True)
                elapsed = time.perf_counter() - started
                rows.append([backend, f"pick+record in process, {strategy.value}",
                             f"{picks / elapsed:,.0f}", "", "", "0"])
                await container.rotation.flush()
        finally:
            await container.close()
    return rows


async def main(backends: list[str], proxies: int, clients: int, seconds: float,
               picks: int) -> None:
    rows = [["backend", "what", "per second", "p50 ms", "p95 ms", "errors"]]
    for backend in backends:
        for found in (await http_phases(backend, proxies, clients, seconds),
                      await in_process(backend, proxies, picks)):
            for row in found:
                print("  ".join(row), flush=True)  # as they come: a run takes minutes
            rows += found
    print(f"rotation over HTTP ({clients} clients, {proxies:,} proxies, {seconds:.0f} s per "
          f"row, one server) and in process ({picks:,} picks per strategy):")
    print(table(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    parser.add_argument("--proxies", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--picks", type=int, default=20_000)
    options = parser.parse_args()
    asyncio.run(main(options.backend or ["sqlite", "postgresql"], options.proxies,
                     options.clients, options.seconds, options.picks))
