"""The reseller shop's two figures: purchases per second over real HTTP with 64 concurrent
buyers against a `proxyfleet serve` process (each purchase: reserve, ask the simulated
provider and buy there, commit), and a sync of 10,000 upstream products (time and SQL
statements; then again with nothing changed, and after a tenth of them changed).

The simulated provider runs in a process of its own (`proxyfleet sim upstream`), as a real
provider would be elsewhere, so its CPU is not counted against the shop's. On a small shared
machine the rate swings with the other load; the server's CPU per purchase moves much less.

    .venv/bin/python -m bench.shop_bench                                # both backends
    .venv/bin/python -m bench.shop_bench --backend postgresql --buyers 64 --purchases 2000
    .venv/bin/python -m bench.shop_bench --skip-purchases --products 10000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import httpx
from sqlalchemy import event

from bench.common import fresh_database, percentile, table
from bench.leases import free_port, wait_up
from bench.procstat import cpu_meter
from proxyfleet import bootstrap
from proxyfleet.core.accounts import Currency, Principal, Role
from proxyfleet.core.shop import CatalogueQuery
from proxyfleet.settings import Settings

SECRET = "bench-secret"
TOKEN = "bench-upstream-token"


@contextmanager
def upstream(products: int, online_fraction: float = 0.9) -> Iterator[str]:
    """`proxyfleet sim upstream` in its own process; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "proxyfleet", "sim", "upstream", "--port", str(port),
         "--products", str(products), "--token", TOKEN,
         "--online-fraction", str(online_fraction)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/api/v1/authorized"
    finally:
        process.terminate()
        process.wait(timeout=20)


def settings_for(url: str, upstream_url: str) -> Settings:
    return Settings(database_url=url, secret_key=SECRET, data_dir=tempfile.mkdtemp(),
                    shop_upstream_url=upstream_url, shop_upstream_token=TOKEN,
                    shop_sync_page_size=1000)


class StatementCounter:
    """Counts the statements an engine sends (an executemany counts once)."""

    def __init__(self, container: bootstrap.Container) -> None:
        self.count = 0
        engines = container.database.engines
        for engine in {id(e): e for e in (engines.reader, engines.writer)}.values():
            event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: Any) -> None:
        self.count += 1


async def sync_figures(backend: str, products: int) -> list[list[str]]:
    rows = []
    async with fresh_database(backend) as url:
        with upstream(products, online_fraction=1.0) as upstream_url:
            container = bootstrap.build(settings_for(url, upstream_url))
            await container.start()
            counter = StatementCounter(container)
            try:
                for label in ("first (all new)", "again (all same)"):
                    rows.append(await _timed_sync(backend, label, container, counter))
                async with httpx.AsyncClient() as control:
                    await control.post(upstream_url.replace("/api/v1/authorized",
                                                            "/_sim/churn"),
                                       json={"fraction": 0.1})
                rows.append(await _timed_sync(backend, "after 10 % churn", container, counter))
            finally:
                await container.close()
    return rows


async def _timed_sync(backend: str, label: str, container: bootstrap.Container,
                      counter: StatementCounter) -> list[str]:
    before = counter.count
    started = time.perf_counter()
    report = await container.shop.sync()
    elapsed = time.perf_counter() - started
    return [backend, label, f"{report.total_fetched:,}", str(report.added), str(report.updated),
            str(report.skipped), str(report.removed), f"{elapsed:.2f}",
            str(counter.count - before)]


async def prepare_buyers(url: str, upstream_url: str, buyers: int,
                         purchases: int) -> tuple[list[str], list[int]]:
    """Funded buyers and the synced catalogue; returns their keys and the product ids."""
    container = bootstrap.build(settings_for(url, upstream_url))
    await container.start()
    try:
        await container.shop.sync()
        admin, issued = await container.accounts.register("admin@bench.test", None, Role.ADMIN)
        boss = Principal(admin, issued.key.id)
        keys = []
        for n in range(buyers):
            user, key = await container.accounts.register(f"b{n}@bench.test", None)
            await container.accounts.grant(boss, user.id, Currency.USD, 10_000_000, "bench")
            keys.append(key.raw)
        page = await container.shop.catalogue(CatalogueQuery(page_size=purchases))
        return keys, [item.id for item in page.items]
    finally:
        await container.close()


async def buyer_loop(http: aiohttp.ClientSession, base: str, key: str, products: list[int],
                     latencies: list[float], errors: list[int]) -> int:
    headers = {"Authorization": f"Bearer {key}"}
    bought = 0
    while products:
        product_id = products.pop()
        started = time.perf_counter()
        async with http.post(f"{base}/api/external-proxy/purchase", headers=headers,
                             json={"product_id": product_id}) as response:
            await response.read()
            status = response.status
        latencies.append((time.perf_counter() - started) * 1000)
        if status == 200:
            bought += 1
        else:
            errors.append(status)
    return bought


async def purchase_figures(backend: str, buyers: int, purchases: int) -> list[str]:
    async with fresh_database(backend) as url:
        with upstream(purchases + 50, online_fraction=1.0) as upstream_url:
            keys, products = await prepare_buyers(url, upstream_url, buyers, purchases)
            port = free_port()
            server = subprocess.Popen(
                [sys.executable, "-m", "proxyfleet", "serve"],
                env=os.environ | {"PROXYFLEET_DATABASE_URL": url,
                                  "PROXYFLEET_SECRET_KEY": SECRET,
                                  "PROXYFLEET_PORT": str(port),
                                  "PROXYFLEET_LOG_LEVEL": "warning",
                                  "PROXYFLEET_DATA_DIR": tempfile.mkdtemp(),
                                  "PROXYFLEET_SHOP_UPSTREAM_URL": upstream_url,
                                  "PROXYFLEET_SHOP_UPSTREAM_TOKEN": TOKEN,
                                  "PROXYFLEET_SCHEDULER_ENABLED": "false"},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            base = f"http://127.0.0.1:{port}"
            try:
                await wait_up(base)
                server_cpu = cpu_meter(port)
                cpu_before = server_cpu()
                latencies: list[float] = []
                errors: list[int] = []
                connector = aiohttp.TCPConnector(limit=buyers)
                async with aiohttp.ClientSession(connector=connector) as http:
                    started = time.perf_counter()
                    bought = await asyncio.gather(*(
                        buyer_loop(http, base, keys[i], products, latencies, errors)
                        for i in range(buyers)))
                    elapsed = time.perf_counter() - started
                cpu_ms = (server_cpu() - cpu_before) * 1000 / max(sum(bought), 1)
            finally:
                server.terminate()
                server.wait(timeout=20)
    return [backend, str(buyers), f"{sum(bought):,}", f"{sum(bought) / elapsed:,.0f}",
            f"{percentile(latencies, 50):.1f}", f"{percentile(latencies, 95):.1f}",
            f"{cpu_ms:.1f}", str(len(errors))]


async def main(options: argparse.Namespace) -> None:
    backends = options.backend or ["sqlite", "postgresql"]
    if not options.skip_purchases:
        rows = [["backend", "buyers", "purchases", "purchases/s", "p50 ms", "p95 ms",
                 "server CPU ms/purchase", "errors"]]
        for backend in backends:
            rows.append(await purchase_figures(backend, options.buyers, options.purchases))
        print(f"purchases over HTTP (reserve, buy from the simulated provider, commit), "
              f"{options.buyers} concurrent buyers:")
        print(table(rows))
    if not options.skip_sync:
        rows = [["backend", "sync", "fetched", "added", "updated", "skipped", "removed",
                 "seconds", "statements"]]
        for backend in backends:
            rows += await sync_figures(backend, options.products)
        print(f"\ncatalogue sync of {options.products:,} upstream products (pages of 1,000):")
        print(table(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    parser.add_argument("--buyers", type=int, default=64)
    parser.add_argument("--purchases", type=int, default=2000)
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--skip-purchases", action="store_true")
    parser.add_argument("--skip-sync", action="store_true")
    asyncio.run(main(parser.parse_args()))
