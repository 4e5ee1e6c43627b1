"""Inventory at scale: import rate, and GET /proxies latency with filters, sorts and deep
cursors, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.inventory --backend sqlite --proxies 1000000
    .venv/bin/python -m bench.inventory --backend postgresql --proxies 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
from sqlalchemy import text

from bench.common import fresh_database, percentile, table
from proxyfleet import bootstrap
from proxyfleet.api.app import create_app
from proxyfleet.core.accounts import Role
from proxyfleet.core.proxies import ProxyAddress, ProxyOrigin, ProxyProtocol
from proxyfleet.settings import Settings

QUERIES: list[dict[str, Any]] = [
    {},
    {"status": "active"},
    {"status": "active", "protocol": "socks5", "min_score": 0.5},
    {"country": "US", "sort": "latency"},
    {"status": "active", "max_latency_ms": 500, "sort": "latency"},
    {"min_uptime_pct": 80, "sort": "uptime"},
    {"verified_within_minutes": 30, "sort": "last_checked"},
    {"anonymity": "elite", "status": "active", "sort": "score", "order": "asc"},
]
PROTOCOLS = list(ProxyProtocol)


def generated(count: int) -> Iterator[ProxyAddress]:
    for i in range(count):
        yield ProxyAddress(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 1024 + i % 50000,
                           PROTOCOLS[i % 4])


# Realistic spread of checked state, set in SQL (the checking pipeline's job in production).
SPREAD = """
UPDATE proxies SET
  status = CASE WHEN abs(random()) % 10 < 3 THEN 'active'
                WHEN abs(random()) % 10 < 8 THEN 'dead' ELSE 'unchecked' END,
  score = (abs(random()) % 1000) / 1000.0,
  avg_latency_ms = 20 + abs(random()) % 3000,
  uptime_pct = abs(random()) % 101,
  anonymity = CASE abs(random()) % 3 WHEN 0 THEN 'elite' WHEN 1 THEN 'anonymous'
              ELSE 'transparent' END,
  country = CASE abs(random()) % 5 WHEN 0 THEN 'US' WHEN 1 THEN 'DE' WHEN 2 THEN 'BR'
            WHEN 3 THEN 'IN' ELSE 'FR' END,
  last_checked_at = {now} - (abs(random()) % 7200) * {second}
"""


async def spread(container: bootstrap.Container) -> None:
    postgres = container.database.backend == "postgresql"
    sql = SPREAD.format(now="now()" if postgres else "datetime('now')",
                        second="interval '1 second'" if postgres else "0")
    if postgres:
        sql = sql.replace("abs(random()) %", "floor(random() * 1000000)::bigint %")
    else:  # SQLite keeps naive UTC text; shift with datetime() instead of interval arithmetic
        sql = sql.replace("last_checked_at = datetime('now') - (abs(random()) % 7200) * 0",
                          "last_checked_at = datetime('now', '-' || (abs(random()) % 7200)"
                          " || ' seconds')")
    async with container.database.engines.writer.begin() as conn:
        await conn.execute(text(sql))
    # What autovacuum does in production: statistics, and (PostgreSQL) a visibility map that
    # lets counts use index-only scans.
    engine = container.database.engines.writer
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE" if postgres else "ANALYZE"))


async def time_pages(client: httpx.AsyncClient, headers: dict[str, str],
                     params: dict[str, Any],
                     depth: int) -> tuple[float, list[float], list[float]]:
    """A cold first page (counts the total), ten more first pages, then `depth` cursor pages."""
    first: list[float] = []
    deep: list[float] = []
    started = time.perf_counter()
    response = await client.get("/proxies", params=params | {"limit": 50}, headers=headers)
    cold = (time.perf_counter() - started) * 1000
    for _ in range(10):
        started = time.perf_counter()
        response = await client.get("/proxies", params=params | {"limit": 50}, headers=headers)
        first.append((time.perf_counter() - started) * 1000)
    cursor = response.json()["next_cursor"]
    for _ in range(depth):
        if cursor is None:
            break
        started = time.perf_counter()
        response = await client.get("/proxies", params=params | {"limit": 50, "cursor": cursor},
                                    headers=headers)
        deep.append((time.perf_counter() - started) * 1000)
        cursor = response.json()["next_cursor"]
    return cold, first, deep


async def main(backend: str, count: int, depth: int) -> None:
    async with fresh_database(backend) as url:
        settings = Settings(database_url=url, secret_key="bench", data_dir="/tmp/pf-bench")
        container = bootstrap.build(settings)
        await container.start()
        started = time.perf_counter()
        counts = await container.inventory.add(generated(count), ProxyOrigin.MANUAL)
        elapsed = time.perf_counter() - started
        print(f"{backend}: imported {counts.new} proxies in {elapsed:.1f} s = "
              f"{counts.new / elapsed:,.0f} rows/s")
        await spread(container)
        _, issued = await container.accounts.register("bench@example.com", None, Role.USER)
        headers = {"Authorization": f"Bearer {issued.raw}"}
        transport = httpx.ASGITransport(app=create_app(container))
        rows = [["query", "cold", "first p50", "first p95", "deep p50", "deep p95", "pages"]]
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for params in QUERIES:
                cold, first, deep = await time_pages(client, headers, params, depth)
                rows.append([str(params) or "{}", f"{cold:.1f}", f"{percentile(first, 50):.1f}",
                             f"{percentile(first, 95):.1f}",
                             f"{percentile(deep, 50):.1f}" if deep else "-",
                             f"{percentile(deep, 95):.1f}" if deep else "-", str(len(deep))])
        print(f"GET /proxies at {count:,} proxies, ms per page (in-process ASGI):")
        print(table(rows))
        await container.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--proxies", type=int, default=1_000_000)
    parser.add_argument("--depth", type=int, default=40, help="cursor pages to follow")
    options = parser.parse_args()
    asyncio.run(main(options.backend, options.proxies, options.depth))
