"""Memory of a `proxyfleet serve` process while it scrapes a 200,000-line source.

    .venv/bin/python -m bench.scrape_memory [--lines 200000] [--backend sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import fresh_database
from bench.leases import SECRET, free_port, wait_up
from proxyfleet import bootstrap
from proxyfleet.core.accounts import Role
from proxyfleet.settings import Settings
from proxyfleet.sim.lists import GeneratedList, ListServer


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


async def admin_key(url: str) -> str:
    container = bootstrap.build(Settings(database_url=url, secret_key=SECRET,
                                         data_dir=tempfile.mkdtemp()))
    await container.start()
    _, issued = await container.accounts.register("admin@bench.test", None, Role.ADMIN)
    await container.close()
    return issued.raw


async def sample(pid: int, done: asyncio.Event, peak: list[int]) -> None:
    while not done.is_set():
        peak[0] = max(peak[0], rss_kib(pid))
        await asyncio.sleep(0.02)


async def main(lines: int, backend: str) -> None:
    async with fresh_database(backend) as url, ListServer({"/big.txt": GeneratedList(lines)}) \
            as lists:
        key = await admin_key(url)
        port = free_port()
        env = os.environ | {"PROXYFLEET_DATABASE_URL": url, "PROXYFLEET_SECRET_KEY": SECRET,
                            "PROXYFLEET_PORT": str(port), "PROXYFLEET_LOG_LEVEL": "warning",
                            "PROXYFLEET_DATA_DIR": tempfile.mkdtemp()}
        server = subprocess.Popen([sys.executable, "-m", "proxyfleet", "serve"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {key}"}
        try:
            await wait_up(base)
            async with httpx.AsyncClient(base_url=base, timeout=600, headers=headers) as http:
                source = (await http.post("/sources", json={
                    "url": lists.url("/big.txt"), "parser_name": "plaintext",
                    "cron_schedule": "0 0 1 1 *"})).json()
                idle = rss_kib(server.pid)
                peak = [idle]
                done = asyncio.Event()
                sampler = asyncio.ensure_future(sample(server.pid, done, peak))
                started = time.perf_counter()
                result = (await http.post(f"/sources/{source['id']}/scrape")).json()
                elapsed = time.perf_counter() - started
                done.set()
                await sampler
        finally:
            server.terminate()
            server.wait(timeout=20)
    print(f"{backend}: scraped {result['proxies_discovered']:,} lines "
          f"({result['proxies_new']:,} new) in {elapsed:.1f} s; server RSS idle "
          f"{idle / 1024:.0f} MiB, peak while scraping {peak[0] / 1024:.0f} MiB "
          f"(+{(peak[0] - idle) / 1024:.0f} MiB)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    options = parser.parse_args()
    asyncio.run(main(options.lines, options.backend))
