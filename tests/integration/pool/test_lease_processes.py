"""Two API processes on one database race for the same proxies: the database keeps leases
exclusive (the partial unique index and conditional debit, not process-local locks)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from proxyfleet.bootstrap import Container
from tests.conftest import Member
from tests.integration.pool.seeding import addresses, funded, seed
from tests.integration.test_process import running_server

pytestmark = pytest.mark.slow


async def test_two_servers_never_lease_one_proxy_twice(
        client: httpx.AsyncClient, container: Container, admin: Member, tmp_path: Path,
        database_url: str, redis_url: str | None) -> None:
    await seed(container, addresses(10), status="active", score=0.5)
    users = [await funded(client, admin, 30) for _ in range(4)]
    data = tmp_path / "shared"
    with running_server(data, database_url, redis_url) as first, \
            running_server(data, database_url, redis_url) as second:
        async with httpx.AsyncClient(timeout=60) as http:
            responses = await asyncio.gather(*(
                http.post(f"{(first, second)[i % 2]}/proxies/acquire",
                          headers=users[i % 4].headers)
                for i in range(100)))
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 10, statuses
    assert statuses.count(409) == 90
    leased = {r.json()["proxy"]["ip"] for r in responses if r.status_code == 200}
    assert len(leased) == 10
    spent = 0
    for user in users:
        spent += 30 - (await client.get("/account/credits", headers=user.headers)).json()["balance"]
    assert spent == 10
