"""Instagram actions per second through the quota check: 1,000 accounts (three to a proxy),
64 concurrent clients posting likes over HTTP to `proxyfleet serve`, each like taking its
unit of quota in the database, going out through the account's farm proxy to the simulated
Instagram (`proxyfleet sim instagram`, its own process), and being settled.

    flock /tmp/bench.lock .venv/bin/python -m bench.instagram_bench              # PostgreSQL
    flock /tmp/bench.lock .venv/bin/python -m bench.instagram_bench --backend sqlite
    .venv/bin/python -m bench.instagram_bench --accounts 1000 --clients 64 --seconds 15
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import subprocess
import sys
import tempfile
import time

import aiohttp
from sqlalchemy import update

from bench.common import fresh_database, percentile, table
from bench.leases import free_port, wait_up
from proxyfleet import bootstrap
from proxyfleet.core.accounts import Principal, Role
from proxyfleet.core.proxies import ProxyOrigin, ProxyProtocol
from proxyfleet.sessions.service import SessionRequest
from proxyfleet.settings import Settings
from proxyfleet.sim.farm import Behaviour, Farm, FarmSpec
from proxyfleet.storage.tables import ProxyRow

SECRET = "bench-secret"
ACCOUNTS_PER_PROXY = 3


async def prepare(url: str, farm: Farm, accounts: int, instagram: str) -> tuple[str, list[str]]:
    """The farm as manager private proxies, one user, and its sessions; returns the user's
    key and the account names (registered at the simulated Instagram too)."""
    settings = Settings(database_url=url, secret_key=SECRET, data_dir=tempfile.mkdtemp(),
                        instagram_base_url=f"{instagram}/api/v1")
    container = bootstrap.build(settings)
    await container.start()
    try:
        await container.inventory.add((m.address for m in farm.members), ProxyOrigin.MANUAL)
        async with container.database.engines.writer.begin() as conn:
            for number, member in enumerate(farm.members, 1):
                await conn.execute(update(ProxyRow).where(ProxyRow.host == member.address.host)
                                   .values(number=number, shared=False, status="active",
                                           score=0.9))
        await container.rotation.refresh()
        user, issued = await container.accounts.register("bench@bench.test", None, Role.USER)
        owner = Principal(user, issued.key.id)
        names = [f"bench_{n}" for n in range(accounts)]
        for n, name in enumerate(names):
            await container.instagram.create_session(owner, SessionRequest(
                username=name, session_id=f"sid-{n}", cookies={"sessionid": f"sess-{n}"},
                user_agent="Mozilla/5.0 (bench)", proxy=n // ACCOUNTS_PER_PROXY + 1))
    finally:
        await container.close()
    async with aiohttp.ClientSession() as http, http.post(
            f"{instagram}/_sim/sessions", json={"sessions": [
                {"username": name, "sessionid": f"sess-{n}"} for n, name in enumerate(names)]}
    ) as answer:
        answer.raise_for_status()
    return issued.raw, names


async def client_loop(http: aiohttp.ClientSession, base: str, key: str, names: list[str],
                      media: itertools.count[int], until: float, latencies: list[float],
                      errors: list[int]) -> int:
    headers = {"Authorization": f"Bearer {key}"}
    done = 0
    while time.perf_counter() < until:
        body = {"username": random.choice(names), "media_id": f"m{next(media)}"}
        started = time.perf_counter()
        async with http.post(f"{base}/api/instagram/like", headers=headers,
                             json=body) as answer:
            await answer.read()
            status = answer.status
        latencies.append((time.perf_counter() - started) * 1000)
        if status == 200:
            done += 1
        else:
            errors.append(status)
    return done


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "proxyfleet", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def run(backend: str, accounts: int, clients: int, seconds: float) -> list[str]:
    proxies = -(-accounts // ACCOUNTS_PER_PROXY)
    spec = FarmSpec(counts={(ProxyProtocol.HTTP, Behaviour.ELITE): proxies},
                    listen_prefix="127.91", egress_prefix="127.92")
    sim_port, api_port = free_port(), free_port()
    instagram = f"http://127.0.0.1:{sim_port}"
    sim = start(["sim", "instagram", "--port", str(sim_port)], dict(os.environ))
    try:
        async with fresh_database(backend) as url, Farm(spec) as farm:
            await wait_up_sim(instagram)
            key, names = await prepare(url, farm, accounts, instagram)
            env = os.environ | {
                "PROXYFLEET_DATABASE_URL": url, "PROXYFLEET_SECRET_KEY": SECRET,
                "PROXYFLEET_PORT": str(api_port), "PROXYFLEET_LOG_LEVEL": "warning",
                "PROXYFLEET_DATA_DIR": tempfile.mkdtemp(),
                "PROXYFLEET_INSTAGRAM_BASE_URL": f"{instagram}/api/v1",
                "PROXYFLEET_CHECKING_ENABLED": "false"}
            server = start(["serve"], env)
            try:
                base = f"http://127.0.0.1:{api_port}"
                await wait_up(base)
                figures = await load(base, key, names, clients, seconds)
            finally:
                server.terminate()
                server.wait(timeout=20)
    finally:
        sim.terminate()
        sim.wait(timeout=20)
    done, elapsed, latencies, errors = figures
    return [backend, f"{accounts:,}", str(clients), f"{done / elapsed:,.0f}",
            f"{percentile(latencies, 50):.1f}", f"{percentile(latencies, 95):.1f}",
            str(len(errors))]


async def load(base: str, key: str, names: list[str], clients: int,
               seconds: float) -> tuple[int, float, list[float], list[int]]:
    latencies: list[float] = []
    errors: list[int] = []
    media = itertools.count()
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.perf_counter()
        until = started + seconds
        done = await asyncio.gather(*(client_loop(http, base, key, names, media, until,
                                                  latencies, errors)
                                      for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return sum(done), elapsed, latencies, errors


async def wait_up_sim(instagram: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            try:
                async with http.get(f"{instagram}/_sim/actions") as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the simulated Instagram did not start")


async def main(backends: list[str], accounts: int, clients: int, seconds: float) -> None:
    rows = [["backend", "accounts", "clients", "likes/s", "p50 ms", "p95 ms", "errors"]]
    for backend in backends:
        rows.append(await run(backend, accounts, clients, seconds))
    print(f"likes through the quota check, proxy and simulated Instagram, {seconds:.0f} s:")
    print(table(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=15)
    options = parser.parse_args()
    asyncio.run(main(options.backend or ["postgresql"], options.accounts, options.clients,
                     options.seconds))
