"""The one table of account sessions: sealed cookies, unique by digest, gone with their proxy."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from proxyfleet.bootstrap import Container
from proxyfleet.core.clock import utcnow
from proxyfleet.core.proxies import ProxyOrigin
from proxyfleet.core.sessions import SessionStatus
from proxyfleet.storage.sessions import SessionCookieTaken
from proxyfleet.storage.tables import AccountSessionRow, ProxyRow
from tests.integration.pool.seeding import addresses


async def _proxy_ids(container: Container, count: int) -> list[object]:
    await container.inventory.add(addresses(count), ProxyOrigin.MANUAL)
    async with container.database.engines.reader.connect() as conn:
        return list((await conn.execute(select(ProxyRow.id).order_by(ProxyRow.host))).scalars())


async def test_a_cookie_is_sealed_at_rest_and_opened_on_read(container: Container) -> None:
    [proxy_id] = await _proxy_ids(container, 1)
    async with container.database.writing() as uow:
        made = await uow.sessions.add(proxy_id, "sessionid=secret-cookie", utcnow())  # type: ignore[arg-type]
        await uow.commit()
    async with container.database.engines.reader.connect() as conn:
        stored = (await conn.execute(select(AccountSessionRow.session))).scalar_one()
    assert "secret-cookie" not in stored
    async with container.database.reading() as uow:
        found = await uow.sessions.get(made.id)
        by_cookie = await uow.sessions.by_cookie("sessionid=secret-cookie")
    assert found is not None and found.session == "sessionid=secret-cookie"
    assert found.status is SessionStatus.ACTIVE and by_cookie == found


async def test_a_cookie_binds_to_one_proxy_only(container: Container) -> None:
    first, second = await _proxy_ids(container, 2)
    async with container.database.writing() as uow:
        await uow.sessions.add(first, "cookie-1", utcnow())  # type: ignore[arg-type]
        await uow.commit()
    async with container.database.writing() as uow:
        with pytest.raises(SessionCookieTaken):
            await uow.sessions.add(second, "cookie-1", utcnow())  # type: ignore[arg-type]
    async with container.database.reading() as uow:
        assert await uow.sessions.of_proxies([second]) == {}  # type: ignore[list-item]


async def test_sessions_go_with_their_proxy(container: Container) -> None:
    first, second = await _proxy_ids(container, 2)
    async with container.database.writing() as uow:
        gone = await uow.sessions.add(first, "cookie-a", utcnow())  # type: ignore[arg-type]
        kept = await uow.sessions.add(second, "cookie-b", utcnow())  # type: ignore[arg-type]
        await uow.commit()
    async with container.database.engines.writer.begin() as conn:
        await conn.execute(ProxyRow.__table__.delete().where(ProxyRow.id == first))
    async with container.database.writing() as uow:
        assert await uow.sessions.get(gone.id) is None
        assert await uow.sessions.set_status(kept.id, SessionStatus.DISABLED, utcnow())
        await uow.commit()
    async with container.database.reading() as uow:
        found = await uow.sessions.get(kept.id)
    assert found is not None and found.status is SessionStatus.DISABLED
