"""Leases under concurrency: never double-leased, never double-spent (proofs that race)."""

from __future__ import annotations

import asyncio
import random

import httpx
from sqlalchemy import func, select

from proxyfleet.bootstrap import Container
from proxyfleet.storage.tables import LeaseRow
from tests.conftest import Member
from tests.integration.pool.seeding import addresses, funded, seed


async def _live_per_proxy(container: Container) -> list[int]:
    async with container.database.engines.reader.connect() as conn:
        rows = await conn.execute(select(func.count()).select_from(LeaseRow)
                                  .where(LeaseRow.released_at.is_(None))
                                  .group_by(LeaseRow.proxy_id))
        return [n for (n,) in rows]


async def test_200_acquires_for_20_proxies_lease_exactly_20(
        client: httpx.AsyncClient, container: Container, admin: Member) -> None:
    await seed(container, addresses(20), status="active", score=0.5)
    users = [await funded(client, admin, 25) for _ in range(10)]

    responses = await asyncio.gather(*(
        client.post("/proxies/acquire", headers=users[i % 10].headers) for i in range(200)))

    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 20
    assert statuses.count(409) == 180
    leased = [r.json()["proxy"]["ip"] for r in responses if r.status_code == 200]
    assert len(set(leased)) == 20
    assert await _live_per_proxy(container) == [1] * 20
    balances = [(await client.get("/account/credits", headers=u.headers)).json()["balance"]
                for u in users]
    assert sum(25 - b for b in balances) == 20


async def test_5_credits_and_50_acquires_give_at_most_5_leases(
        client: httpx.AsyncClient, container: Container, admin: Member) -> None:
    await seed(container, addresses(60), status="active", score=0.5)
    member = await funded(client, admin, 5)

    responses = await asyncio.gather(*(
        client.post("/proxies/acquire", headers=member.headers) for _ in range(50)))

    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 5
    assert statuses.count(402) == 45
    credits = (await client.get("/account/credits", headers=member.headers)).json()
    assert credits["balance"] == 0
    assert [t["balance_after"] for t in credits["recent_transactions"]][:5] == [0, 1, 2, 3, 4]
    leases = (await client.get("/account/leases", headers=member.headers)).json()["items"]
    assert len(leases) == 5


async def test_acquire_racing_release_and_expiry_never_hands_out_a_held_proxy(
        client: httpx.AsyncClient, container: Container, admin: Member) -> None:
    await seed(container, addresses(6), status="active", score=0.5)
    users = [await funded(client, admin, 1000) for _ in range(8)]
    held: set[str] = set()
    violations: list[str] = []
    rng = random.Random(7)

    async def worker(user: Member) -> None:
        for _ in range(15):
            duration = rng.choice([2, 300, 300])  # some leases expire on their own
            response = await client.post("/proxies/acquire", headers=user.headers,
                                         json={"lease_duration_seconds": duration})
            if response.status_code != 200:
                await asyncio.sleep(0.01)
                continue
            body = response.json()
            proxy = f"{body['proxy']['ip']}:{body['proxy']['port']}"
            if proxy in held:
                violations.append(proxy)
            held.add(proxy)
            # Stop counting it as held before it can legitimately go to someone else: before
            # the release is sent, or well before the short lease expires by itself.
            await asyncio.sleep(rng.uniform(0, 0.05) if duration == 300 else 1.0)
            held.discard(proxy)
            if duration == 300:
                await client.post(f"/proxies/acquire/{body['lease_id']}/release",
                                  headers=user.headers)

    await asyncio.gather(*(worker(u) for u in users))

    assert violations == []
    assert all(n == 1 for n in await _live_per_proxy(container))
