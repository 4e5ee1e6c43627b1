"""Acquire + release pairs per second over real HTTP, with 64 concurrent clients and 10,000
proxies, against one or more `proxyfleet serve` processes on one database; p50/p95 latency of
acquire.

    .venv/bin/python -m bench.leases                       # both backends, one server
    .venv/bin/python -m bench.leases --backend postgresql --servers 1 --servers 2
    .venv/bin/python -m bench.leases --backend postgresql --workers 2   # serve --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time

import aiohttp
import httpx
from sqlalchemy import text

from bench.common import fresh_database, percentile, table
from proxyfleet import bootstrap
from proxyfleet.core.accounts import Currency, Principal, Role
from proxyfleet.core.proxies import ProxyAddress, ProxyOrigin, ProxyProtocol
from proxyfleet.settings import Settings

SECRET = "bench-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def prepare(url: str, proxies: int, clients: int) -> list[str]:
    """Active proxies and funded users; returns the users' keys."""
    container = bootstrap.build(Settings(database_url=url, secret_key=SECRET,
                                         data_dir=tempfile.mkdtemp()))
    await container.start()
    await container.inventory.add(
        (ProxyAddress(f"10.9.{i // 250}.{i % 250 + 1}", 8080, ProxyProtocol.HTTP)
         for i in range(proxies)), ProxyOrigin.MANUAL)
    async with container.database.engines.writer.begin() as conn:
        await conn.execute(text("UPDATE proxies SET status = 'active', score = 0.5"))
    admin, issued = await container.accounts.register("admin@bench.test", None, Role.ADMIN)
    boss = Principal(admin, issued.key.id)
    keys = []
    for n in range(clients):
        user, key = await container.accounts.register(f"u{n}@bench.test", None)
        await container.accounts.grant(boss, user.id, Currency.CREDITS, 10_000_000, "bench")
        keys.append(key.raw)
    await container.close()
    return keys


async def client_loop(http: aiohttp.ClientSession, base: str, key: str, until: float,
                      latencies: list[float], errors: list[int]) -> int:
    # aiohttp, not httpx, as the load generator: httpx spends more CPU per request than the
    # server does, and on two cores the client would be what is measured.
    headers = {"Authorization": f"Bearer {key}"}
    pairs = 0
    while time.perf_counter() < until:
        started = time.perf_counter()
        async with http.post(f"{base}/proxies/acquire", headers=headers) as acquired:
            body = await acquired.json()
            status = acquired.status
        latencies.append((time.perf_counter() - started) * 1000)
        if status != 200:
            errors.append(status)
            continue
        async with http.post(f"{base}/proxies/acquire/{body['lease_id']}/release",
                             headers=headers) as released:
            await released.read()
            if released.status != 200:
                errors.append(released.status)
        pairs += 1
    return pairs


async def run(backend: str, servers: int, workers: int, proxies: int, clients: int,
              seconds: float) -> list[str]:
    async with fresh_database(backend) as url:
        keys = await prepare(url, proxies, clients)
        data_dir = tempfile.mkdtemp()
        ports = [free_port() for _ in range(servers)]
        processes = [subprocess.Popen(
            [sys.executable, "-m", "proxyfleet", "serve"],
            env=os.environ | {"PROXYFLEET_DATABASE_URL": url, "PROXYFLEET_SECRET_KEY": SECRET,
                              "PROXYFLEET_PORT": str(port), "PROXYFLEET_LOG_LEVEL": "warning",
                              "PROXYFLEET_DATA_DIR": data_dir,
                              "PROXYFLEET_WORKERS": str(workers),
                              # the made-up proxies would be checked, found dead, unleasable
                              "PROXYFLEET_CHECKING_ENABLED": "false"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for port in ports]
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        try:
            for base in bases:
                await wait_up(base)
            connector = aiohttp.TCPConnector(limit=clients)
            async with aiohttp.ClientSession(connector=connector) as http:
                latencies: list[float] = []
                errors: list[int] = []
                started = time.perf_counter()
                until = started + seconds
                pairs = await asyncio.gather(*(client_loop(http, bases[i % servers], keys[i],
                                                           until, latencies, errors)
                                               for i in range(clients)))
                elapsed = time.perf_counter() - started
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=20)
    return [backend, str(servers), str(workers), f"{sum(pairs) / elapsed:,.0f}",
            f"{percentile(latencies, 50):.1f}",
            f"{percentile(latencies, 95):.1f}", str(len(errors))]


async def wait_up(base: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            try:
                if (await http.get(f"{base}/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("server did not start")


async def main(backends: list[str], servers: list[int], workers: int, proxies: int,
               clients: int, seconds: float) -> None:
    rows = [["backend", "servers", "workers", "pairs/s", "acquire p50 ms", "acquire p95 ms",
             "errors"]]
    for backend in backends:
        for count in servers:
            rows.append(await run(backend, count, workers, proxies, clients, seconds))
    print(f"acquire+release over HTTP, {clients} clients, {proxies:,} proxies, {seconds:.0f} s:")
    print(table(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    parser.add_argument("--servers", type=int, action="append",
                        help="API processes sharing the database (repeatable; default 1)")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes of each server (serve --workers)")
    parser.add_argument("--proxies", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=15)
    options = parser.parse_args()
    asyncio.run(main(options.backend or ["sqlite", "postgresql"], options.servers or [1],
                     options.workers, options.proxies, options.clients, options.seconds))
