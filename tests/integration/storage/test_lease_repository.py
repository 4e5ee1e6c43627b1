"""The lease repository's edges, on whichever database the run uses: a lost race on insert
(the unique indexes) is LeaseTaken with nothing written, and a lease ends at its expiry
instant exactly (free at `expires_at`, live a microsecond before)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from proxyfleet.bootstrap import Container
from proxyfleet.core.accounts import Currency, Role
from proxyfleet.core.clock import utcnow
from proxyfleet.core.proxies import ProxyFilter
from proxyfleet.storage.leases import LeaseRequest, LeaseTaken
from proxyfleet.storage.tables import LeaseRow
from tests.integration.pool.seeding import addresses, seed


async def _funded_user(container: Container, credits: int) -> uuid.UUID:
    admin, _ = await container.accounts.register(f"a-{uuid.uuid4().hex[:8]}@example.com",
                                                 "A", Role.ADMIN)
    user, _ = await container.accounts.register(f"u-{uuid.uuid4().hex[:8]}@example.com", "U")
    principal = await container.accounts.authenticate(
        (await container.accounts.issue_key(admin.id, "k")).raw)
    await container.accounts.grant(principal, user.id, Currency.CREDITS, credits, "seed")
    return user.id


def _request(user_id: uuid.UUID, key: str | None) -> LeaseRequest:
    return LeaseRequest(uuid.uuid4(), user_id, ProxyFilter(), timedelta(seconds=60), 1,
                        "Proxy acquired: ", key)


async def _balance(container: Container, user_id: uuid.UUID) -> int:
    async with container.database.reading() as uow:
        return await uow.accounts.balance(user_id, Currency.CREDITS)


async def test_a_lost_race_on_insert_is_lease_taken_and_writes_nothing(
        container: Container) -> None:
    await seed(container, addresses(3), status="active", score=0.5)
    user_id = await _funded_user(container, 5)
    async with container.database.writing_statements() as uow:
        granted = await uow.leases.grant(_request(user_id, "same"), utcnow)
        await uow.commit()
    assert granted.balance_after == 4
    async with container.database.writing_statements() as uow:
        with pytest.raises(LeaseTaken):
            await uow.leases.grant(_request(user_id, "same"), utcnow)
    assert await _balance(container, user_id) == 4
    async with container.database.reading() as uow:
        live = await uow.leases.live_of(user_id, utcnow())
    assert len(live) == 1


async def test_a_lease_ends_at_its_expiry_instant(container: Container) -> None:
    await seed(container, addresses(1), status="active", score=0.5)
    user_id = await _funded_user(container, 1)
    async with container.database.reading() as uow:
        proxy = await uow.leases.candidate(ProxyFilter(), utcnow())
    assert proxy is not None
    ends = utcnow().replace(microsecond=500_000) + timedelta(hours=1)
    async with container.database.engines.writer.begin() as conn:
        await conn.execute(LeaseRow.__table__.insert(), [{
            "id": uuid.uuid4(), "proxy_id": proxy.proxy.id, "user_id": user_id,
            "created_at": ends - timedelta(minutes=5), "expires_at": ends}])
    just_before = ends - timedelta(microseconds=1)

    async with container.database.reading() as uow:
        assert await uow.leases.candidate(ProxyFilter(), just_before) is None
        assert len(await uow.leases.live_of(user_id, just_before)) == 1
        free = await uow.leases.candidate(ProxyFilter(), ends)
        assert free is not None and free.carries_expired_lease
        assert await uow.leases.live_of(user_id, ends) == []
    async with container.database.writing() as uow:
        assert await uow.leases.expire_due(just_before) == 0
        assert await uow.leases.expire_due(ends) == 1
        await uow.commit()
