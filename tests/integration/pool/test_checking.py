"""Check rounds end to end: the farm's every kind of proxy, judged by proxyfleet's own /judge,
classified and scored in the inventory, with history, back-off and exclusive rounds."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from proxyfleet import bootstrap
from proxyfleet.api.app import create_app
from proxyfleet.core.clock import utcnow
from proxyfleet.core.proxies import ProxyOrigin
from proxyfleet.settings import Settings
from proxyfleet.sim.farm import Behaviour, Farm, ProxyTruth
from proxyfleet.sim.lists import Body, ListServer
from proxyfleet.storage.tables import NO_LATENCY_MS, ProxyCheckRow, ProxyRow
from tests.conftest import Member
from tests.integration.pool.live import live_container
from tests.integration.test_process import server_env

pytestmark = pytest.mark.slow


async def _until(check: Callable[[], Any], seconds: float = 30.0) -> Any:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if outcome := await check():
            return outcome
        await asyncio.sleep(0.1)
    raise AssertionError("the check round did not finish in time")


async def _rows(container: bootstrap.Container) -> list[Any]:
    async with container.database.engines.reader.connect() as conn:
        return list((await conn.execute(select(ProxyRow.__table__))).all())


async def _all_checked(container: bootstrap.Container, count: int) -> bool:
    async with container.database.engines.reader.connect() as conn:
        checked = await conn.scalar(select(func.count()).select_from(ProxyRow)
                                    .where(ProxyRow.health_window != ""))
    return checked == count


async def test_judge_reports_the_caller(client: httpx.AsyncClient) -> None:
    response = await client.get("/judge", headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == 200
    body = response.json()
    assert body["origin"] == "127.0.0.1"
    assert body["headers"]["X-Forwarded-For"] == "203.0.113.9"


async def test_a_round_classifies_every_kind_of_proxy(live: bootstrap.Container,
                                                     farm: Farm, admin: Member) -> None:
    truth = {(a.host, a.port, a.protocol.value): t for a, t in farm.proxies}
    await live.inventory.add([a for a, _ in farm.proxies], ProxyOrigin.MANUAL)

    assert await live.schedule_checks() == len(truth)
    await _until(lambda: _all_checked(live, len(truth)))

    rows = await _rows(live)
    wrong = [(r.host, r.protocol, _verdict(r), truth[(r.host, r.port, r.protocol)])
             for r in rows if not _matches(_verdict(r), truth[(r.host, r.port, r.protocol)])]
    assert wrong == []
    alive = [r for r in rows if r.status == "active"]
    assert alive and all(0 < r.score <= 1 for r in alive)
    assert all(r.score < min(a.score for a in alive) for r in rows if r.status == "dead")
    slow = [r for r in rows if truth[(r.host, r.port, r.protocol)].behaviour is Behaviour.SLOW]
    # Measured (below the "never measured" sentinel) and at least the farm's 0.2 s delay.
    assert slow and all(200 <= r.avg_latency_ms < NO_LATENCY_MS for r in slow)

    transport = httpx.ASGITransport(app=create_app(live))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        some = alive[0]
        detail = (await client.get(f"/proxies/{some.id}", headers=admin.headers)).json()
        stages = [c["stage"] for c in detail["recent_checks"]]
        assert sorted(stages) == [1, 2, 3]
        plugins = (await client.get("/stats/plugins", headers=admin.headers)).json()
        assert {"name": "tcp_connect", "stage": 1, "priority": 10} in plugins["checkers"]


async def test_a_manager_proxy_is_checked_like_any(live: bootstrap.Container, farm: Farm,
                                                  admin: Member) -> None:
    """A proxy added on seed 000's surface is a row of the one inventory: the same pipeline
    checks it, admins see the verdict in `GET /proxies`, and the rotation follows it."""
    alive = next(a for a, t in farm.proxies if t.alive and a.protocol.value == "http")
    dead = next(a for a, t in farm.proxies if not t.alive)
    transport = httpx.ASGITransport(app=create_app(live))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for n, address in enumerate((alive, dead)):
            made = await client.post("/api/proxies", headers=admin.headers, json={
                "ip": address.host, "port": address.port, "protocol": address.protocol.value,
                "username": address.username, "password": address.password,
                "session": f"cookie-{n}"})
            assert made.status_code == 201, made.text
        assert (await client.get("/api/proxies/next", headers=admin.headers)).status_code \
            == 404  # unchecked: not handed out yet
        assert await live.schedule_checks() == 2
        await _until(lambda: _all_checked(live, 2))
        pool = (await client.get("/proxies", headers=admin.headers)).json()["items"]
        assert {(p["ip"], p["status"]) for p in pool} == {(alive.host, "active"),
                                                        (dead.host, "dead")}
        await live.rotation.refresh()
        handed = await client.get("/api/proxies/next", headers=admin.headers)
        assert (handed.status_code, handed.json()["ip"]) == (200, alive.host), handed.text


def _verdict(row: ProxyRow) -> tuple[bool, str | None, str | None]:
    return row.status == "active", row.anonymity, row.exit_ip


def _matches(verdict: tuple[bool, str | None, str | None], truth: ProxyTruth) -> bool:
    alive, anonymity, exit_ip = verdict
    if not truth.alive:
        return not alive
    return alive and anonymity == truth.anonymity and exit_ip == truth.exit_ip


async def test_failing_proxies_back_off_and_history_stays_bounded(
        live: bootstrap.Container, farm: Farm) -> None:
    dead = [a for a, t in farm.proxies if t.behaviour is Behaviour.DEAD][:1]
    healthy = [a for a, t in farm.proxies if t.behaviour is Behaviour.ELITE][:1]
    await live.inventory.add(dead + healthy, ProxyOrigin.MANUAL)
    gaps: list[timedelta] = []
    for _ in range(3):
        async with live.database.engines.writer.begin() as conn:
            await conn.execute(update(ProxyRow).values(next_check_at=utcnow()))
        started = utcnow()
        ids = await live.checking.claim_due()
        await live.checking.check(ids)
        rows = {r.host: r for r in await _rows(live)}
        gaps.append(rows[dead[0].host].next_check_at - started)
        assert rows[healthy[0].host].next_check_at - started >= timedelta(minutes=9)
    assert gaps[0] < gaps[1] < gaps[2]  # exponential back-off
    rows = {r.host: r for r in await _rows(live)}
    assert rows[dead[0].host].consecutive_failures == 3
    assert rows[dead[0].host].health_window == "000"
    assert rows[healthy[0].host].uptime_pct == 100.0
    async with live.database.engines.reader.connect() as conn:
        history = await conn.scalar(select(func.count()).select_from(ProxyCheckRow)
                                    .where(ProxyCheckRow.proxy_id == rows[healthy[0].host].id))
    assert history == 9  # three stages, three rounds; well under the bound


async def test_two_schedulers_never_check_a_proxy_twice_in_one_round(
        live: bootstrap.Container, farm: Farm) -> None:
    addresses = [a for a, _ in farm.proxies]
    await live.inventory.add(addresses, ProxyOrigin.MANUAL)
    first, second = await asyncio.gather(live.schedule_checks(), live.schedule_checks())
    assert first + second == len(addresses)
    await _until(lambda: _all_checked(live, len(addresses)))
    await asyncio.sleep(0.5)
    async with live.database.engines.reader.connect() as conn:
        rounds = (await conn.execute(
            select(ProxyCheckRow.proxy_id, func.count()).where(ProxyCheckRow.stage == 1)
            .group_by(ProxyCheckRow.proxy_id))).all()
    assert len(rounds) == len(addresses)
    assert {n for _, n in rounds} == {1}


async def test_long_dead_proxies_leave_the_pool(live: bootstrap.Container, farm: Farm) -> None:
    dead = [a for a, t in farm.proxies if t.behaviour is Behaviour.DEAD][:2]
    await live.inventory.add(dead, ProxyOrigin.MANUAL)
    async with live.database.engines.writer.begin() as conn:
        await conn.execute(update(ProxyRow).where(ProxyRow.host == dead[0].host)
                           .values(first_seen_at=utcnow() - timedelta(days=8)))
    summary = await live.checking.check(await live.checking.claim_due())
    assert (summary.checked, summary.alive, summary.forgotten) == (2, 0, 1)
    assert [r.host for r in await _rows(live)] == [dead[1].host]


async def test_proxies_test_reports_reachability_through_good_proxies(
        live: bootstrap.Container, farm: Farm, admin: Member) -> None:
    good = [a for a, t in farm.proxies if t.behaviour is Behaviour.ELITE]
    flaky = [a for a, t in farm.proxies if t.behaviour is Behaviour.DEAD][:1]
    await live.inventory.add(good + flaky, ProxyOrigin.MANUAL)
    await live.checking.check(await live.checking.claim_due())
    async with live.database.engines.writer.begin() as conn:  # one that died since its check
        await conn.execute(update(ProxyRow).where(ProxyRow.host == flaky[0].host)
                           .values(status="active", score=1.0))

    async with ListServer({"/page": Body("hello")}) as target:
        transport = httpx.ASGITransport(app=create_app(live))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post("/proxies/test", headers=admin.headers, json={
                "url": target.url("/page"), "count": 4, "timeout_seconds": 3})
            missing = await client.post("/proxies/test", headers=admin.headers, json={
                "url": target.url("/nope"), "count": 2, "protocol": "socks4"})
            nothing = await client.post("/proxies/test", headers=admin.headers, json={
                "url": target.url("/page"), "country": "ZZ"})
            bad = await client.post("/proxies/test", headers=admin.headers,
                                    json={"url": "ftp://example.com/", "count": 0})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["url"] == target.url("/page")
    assert len(body["results"]) == 4
    dead = [r for r in body["results"] if r["ip"] == flaky[0].host]
    assert dead and dead[0]["reachable"] is False and dead[0]["error"]
    reached = [r for r in body["results"] if r["reachable"]]
    assert len(reached) == 3
    assert all(r["status_code"] == 200 and r["latency_ms"] > 0 for r in reached)
    assert body["success_rate"] == 0.75
    assert missing.status_code == 200
    assert {r["status_code"] for r in missing.json()["results"]} == {404}
    assert nothing.status_code == 404
    assert bad.status_code == 422

    # Every request tried through a proxy counts as real traffic on its counters.
    await live.rotation.flush()
    tried = body["results"] + missing.json()["results"]
    async with live.database.engines.reader.connect() as conn:
        counters = {host: (total, failed, errors) for host, total, failed, errors in
                    await conn.execute(select(ProxyRow.host, ProxyRow.total_requests,
                                              ProxyRow.failed_requests, ProxyRow.error_count))}
    assert sum(total for total, _, _ in counters.values()) == len(tried)
    assert counters[flaky[0].host] == (1, 1, 1)
    assert sum(failed for _, failed, _ in counters.values()) == 1


async def test_worker_processes_share_the_due_set(
        settings: Settings, container: bootstrap.Container, farm: Farm,
        tmp_path: Path) -> None:
    """With Redis, check batches go to whichever `proxyfleet worker` reads them first; every
    proxy is checked once, and the work is spread. Without Redis a worker refuses to start."""
    small = settings.model_copy(update={"check_batch_size": 5, "check_timeout_seconds": 3.0})
    async with live_container(small) as live:  # this process schedules, never consumes
        env = server_env(tmp_path, small.effective_database_url, small.redis_url) | {
            "PROXYFLEET_REDIS_PREFIX": small.redis_prefix, "PROXYFLEET_LOG_LEVEL": "info",
            "PROXYFLEET_JUDGE_URL": live.settings.effective_judge_url,
            "PROXYFLEET_CHECK_TIMEOUT_SECONDS": "3"}
        if small.redis_url is None:
            refused = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "proxyfleet", "worker", env=env,
                stderr=asyncio.subprocess.PIPE)
            _, err = await refused.communicate()
            assert refused.returncode == 2
            assert b"PROXYFLEET_REDIS_URL" in err
            return
        addresses = [a for a, _ in farm.proxies]
        await live.inventory.add(addresses, ProxyOrigin.MANUAL)
        workers = [await asyncio.create_subprocess_exec(
            sys.executable, "-m", "proxyfleet", "worker", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            for _ in range(2)]
        try:
            ready = [await _listening(worker) for worker in workers]
            assert await live.schedule_checks() == len(addresses)
            await _until(lambda: _all_checked(live, len(addresses)), seconds=60)
        finally:
            logs = [head + await _stop(worker)
                    for head, worker in zip(ready, workers, strict=False)]
        async with live.database.engines.reader.connect() as conn:
            rounds = (await conn.execute(
                select(ProxyCheckRow.proxy_id, func.count()).where(ProxyCheckRow.stage == 1)
                .group_by(ProxyCheckRow.proxy_id))).all()
    assert len(rounds) == len(addresses)
    assert {n for _, n in rounds} == {1}
    assert all("check round stored" in log for log in logs), logs


async def _listening(worker: asyncio.subprocess.Process) -> str:
    """The worker's output up to the moment it reads the stream."""
    assert worker.stdout is not None
    seen = b""
    async with asyncio.timeout(30):
        while b"Listening started" not in seen:
            seen += await worker.stdout.readline()
    return seen.decode()


async def _stop(worker: asyncio.subprocess.Process) -> str:
    worker.terminate()
    out, _ = await asyncio.wait_for(worker.communicate(), 30)
    return out.decode()
