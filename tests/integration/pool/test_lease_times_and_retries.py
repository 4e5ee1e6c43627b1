"""Lease times are taken once the proxy is ours (after the lock, or from the database), so a
proxy's lease history never overlaps; an acquire retried under its Idempotency-Key returns
the first lease and is charged once. Racing tests, on whichever database the run uses."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from proxyfleet.bootstrap import Container
from proxyfleet.core.clock import utcnow
from proxyfleet.core.proxies import ProxyFilter
from proxyfleet.pool.leasing import LeasingService
from proxyfleet.storage.tables import BalanceRow, LeaseRow, LedgerEntryRow
from tests.conftest import Member
from tests.integration.pool.seeding import addresses, funded, seed


async def _history(container: Container) -> list[tuple[datetime, datetime]]:
    """Every lease as (start, end), by start; the end is the release or the expiry."""
    async with container.database.engines.reader.connect() as conn:
        rows = await conn.execute(select(LeaseRow.created_at, LeaseRow.released_at,
                                         LeaseRow.expires_at).order_by(LeaseRow.created_at))
        return [(start, released or expires) for start, released, expires in rows]


async def _take_and_give_back(client: httpx.AsyncClient, member: Member, rounds: int) -> int:
    taken = 0
    for _ in range(rounds):
        response = await client.post("/proxies/acquire", headers=member.headers)
        if response.status_code != 200:
            assert response.status_code == 409, response.text
            continue
        taken += 1
        lease_id = response.json()["lease_id"]
        released = await client.post(f"/proxies/acquire/{lease_id}/release",
                                      headers=member.headers)
        assert released.status_code == 200, released.text
    return taken


async def test_a_proxy_lease_history_never_overlaps(client: httpx.AsyncClient,
                                                    container: Container, admin: Member) -> None:
    await seed(container, addresses(1), status="active", score=0.5)
    members = [await funded(client, admin, 100) for _ in range(6)]
    taken = await asyncio.gather(*(_take_and_give_back(client, m, 15) for m in members))
    history = await _history(container)
    assert len(history) == sum(taken) > 6
    for (_, end), (start, _) in itertools.pairwise(history):
        assert start >= end, (end, start)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_on_sqlite_the_clock_is_read_only_once_the_write_lock_is_held(
        client: httpx.AsyncClient, container: Container, admin: Member, backend: str) -> None:
    if container.database.backend != backend:
        pytest.skip("PostgreSQL takes lease times from the database's own clock")
    await seed(container, addresses(1), status="active", score=0.5)
    member = await funded(client, admin, 1)
    read: list[bool] = []
    locked = True

    def clock() -> datetime:
        read.append(locked)
        return utcnow()

    leasing = LeasingService(container.database, clock=clock)
    async with container.database.engines.writer.begin() as conn:  # BEGIN IMMEDIATE
        acquiring = asyncio.ensure_future(
            leasing.acquire(uuid.UUID(member.id), ProxyFilter(), 60))
        await asyncio.sleep(0.3)
        await conn.execute(select(1))
        locked = False
    grant = await acquiring
    assert read == [False]
    assert grant.lease.expires_at - grant.lease.created_at == timedelta(seconds=60)


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_on_postgresql_the_start_is_read_once_the_grant_has_waited(
        client: httpx.AsyncClient, container: Container, admin: Member, backend: str) -> None:
    """The grant statement waits for a row another transaction holds (here the balance); its
    lease starts after that wait, not at the statement's start, and lasts what was asked."""
    if container.database.backend != backend:
        pytest.skip("SQLite takes lease times from the caller's clock after BEGIN IMMEDIATE")
    await seed(container, addresses(1), status="active", score=0.5)
    member = await funded(client, admin, 1)
    async with container.database.engines.writer.connect() as conn, conn.begin():
        await conn.execute(select(BalanceRow.amount).where(
            BalanceRow.user_id == uuid.UUID(member.id)).with_for_update())
        acquiring = asyncio.ensure_future(client.post(
            "/proxies/acquire", headers=member.headers,
            json={"lease_duration_seconds": 60}))
        await asyncio.sleep(0.3)
        assert not acquiring.done()
        waited_until = (await conn.execute(select(func.clock_timestamp()))).scalar_one()
    granted = await acquiring
    assert granted.status_code == 200, granted.text
    async with container.database.engines.reader.connect() as conn:
        start, end = (await conn.execute(select(LeaseRow.created_at, LeaseRow.expires_at))).one()
    assert start >= waited_until
    assert end - start == timedelta(seconds=60)


async def _acquire(client: httpx.AsyncClient, member: Member, key: str) -> httpx.Response:
    return await client.post("/proxies/acquire", headers=member.headers | {
        "Idempotency-Key": key}, json={"lease_duration_seconds": 120})


async def _charges(container: Container, member: Member) -> int:
    async with container.database.engines.reader.connect() as conn:
        rows = await conn.execute(select(LedgerEntryRow.amount).where(
            LedgerEntryRow.user_id == uuid.UUID(member.id), LedgerEntryRow.amount < 0))
        return len(rows.all())


async def test_racing_retries_under_one_key_get_one_lease_charged_once(
        client: httpx.AsyncClient, container: Container, admin: Member) -> None:
    await seed(container, addresses(30), status="active", score=0.5)
    member = await funded(client, admin, 10)
    responses = await asyncio.gather(*(_acquire(client, member, "order-1") for _ in range(25)))
    assert {r.status_code for r in responses} == {200}, [r.text for r in responses]
    bodies = [r.json() for r in responses]
    assert len({b["lease_id"] for b in bodies}) == 1
    assert all(b == bodies[0] for b in bodies)
    assert bodies[0]["credits_remaining"] == 9
    assert await _charges(container, member) == 1
    credits = (await client.get("/account/credits", headers=member.headers)).json()
    assert credits["balance"] == 9
    leases = (await client.get("/account/leases", headers=member.headers)).json()["items"]
    assert [lease["lease_id"] for lease in leases] == [bodies[0]["lease_id"]]


async def test_a_retry_after_release_still_answers_the_first_lease(
        client: httpx.AsyncClient, container: Container, admin: Member) -> None:
    await seed(container, addresses(3), status="active", score=0.5)
    member = await funded(client, admin, 5)
    first = (await _acquire(client, member, "k")).json()
    released = await client.post(f"/proxies/acquire/{first['lease_id']}/release",
                                 headers=member.headers)
    assert released.status_code == 200
    again = await _acquire(client, member, "k")
    assert again.status_code == 200
    assert again.json() == first
    other_key = (await _acquire(client, member, "k2")).json()
    assert other_key["lease_id"] != first["lease_id"]
    assert other_key["credits_remaining"] == 3
    # Keys are each user's own: another user's "k" is a lease of their own.
    stranger = await funded(client, admin, 1)
    theirs = (await _acquire(client, stranger, "k")).json()
    assert theirs["lease_id"] != first["lease_id"]
    assert theirs["credits_remaining"] == 0


async def test_a_refused_acquire_leaves_its_key_unused(
        client: httpx.AsyncClient, container: Container, admin: Member) -> None:
    await seed(container, addresses(1), status="active", score=0.5)
    member = await funded(client, admin, 0)
    assert (await _acquire(client, member, "later")).status_code == 402
    await client.post(f"/admin/users/{member.id}/grants", headers=admin.headers,
                      json={"currency": "credits", "amount": 1})
    granted = await _acquire(client, member, "later")
    assert granted.status_code == 200
    assert granted.json()["credits_remaining"] == 0


@pytest.mark.parametrize("key", ["", "x" * 201, "with space", "ü"])
async def test_a_malformed_key_is_422_and_charges_nothing(
        client: httpx.AsyncClient, container: Container, admin: Member, key: str) -> None:
    await seed(container, addresses(1), status="active", score=0.5)
    member = await funded(client, admin, 1)
    headers: dict[str, str | bytes] = {**member.headers, "Idempotency-Key": key.encode()}
    response = await client.post("/proxies/acquire", headers=headers)
    assert response.status_code == 422, response.text
    assert await _charges(container, member) == 0
