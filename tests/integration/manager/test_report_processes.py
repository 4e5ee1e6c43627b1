"""1,000 concurrent reports through two `proxyfleet serve` processes on one database leave
the counters exact: increments are added in the database, never read-modified-written."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from proxyfleet.bootstrap import Container
from proxyfleet.core.clock import utcnow
from proxyfleet.core.rotation import hour_of
from tests.conftest import Member
from tests.integration.test_process import running_server

pytestmark = pytest.mark.slow

REPORTS = 1000


async def test_a_thousand_concurrent_reports_across_two_servers_add_up(
        client: httpx.AsyncClient, container: Container, admin: Member, tmp_path: Path,
        database_url: str, redis_url: str | None) -> None:
    created = await client.post("/api/proxies", headers=admin.headers, json={
        "ip": "192.168.7.7", "port": 8080, "session": "farm-cookie"})
    assert created.status_code == 201, created.text
    number = created.json()["id"]
    hour = hour_of(utcnow())
    data = tmp_path / "shared"
    with running_server(data, database_url, redis_url) as first, \
            running_server(data, database_url, redis_url) as second:
        limits = httpx.Limits(max_connections=64)
        # No pool timeout: a thousand requests wait for 64 connections.
        timeout = httpx.Timeout(120, pool=None)
        async with httpx.AsyncClient(timeout=timeout, limits=limits) as http:
            responses = await asyncio.gather(*(
                http.post(f"{(first, second)[i % 2]}/api/proxies/{number}/report",
                          headers=admin.headers, json={"success": i % 3 != 0})
                for i in range(REPORTS)))
    assert [r.status_code for r in responses] == [200] * REPORTS
    [proxy] = (await client.get("/api/proxies", headers=admin.headers)).json()
    assert proxy["total_requests"] == REPORTS
    assert proxy["failed_requests"] == len(range(0, REPORTS, 3))
    if hour_of(utcnow()) == hour:  # the clock hour did not turn during the test
        assert proxy["requests_this_hour"] == REPORTS
