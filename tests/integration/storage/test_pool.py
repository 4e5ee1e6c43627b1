"""PostgreSQL connection reuse: a connection idle long enough is pinged (and replaced when
the database dropped it); one reused right away is not; a burst opens at most the pool's size
and what it opened past the kept connections is closed once given back; each process's pool
is sized by PROXYFLEET_DATABASE_POOL_SIZE and _POOL_KEPT."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text

from proxyfleet import bootstrap
from proxyfleet.settings import Settings
from proxyfleet.storage.database import Backend, Engines, PoolSize

pytestmark = pytest.mark.usefixtures("postgresql_only")


@pytest.fixture
def postgresql_only(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("pool pinging is set up for PostgreSQL only")


async def _engines(database_url: str, idle_before_ping: float) -> AsyncIterator[Engines]:
    engines = Engines.create(database_url, idle_before_ping=idle_before_ping)
    assert engines.backend is Backend.POSTGRESQL
    try:
        yield engines
    finally:
        await engines.dispose()


@pytest.fixture
async def pinging(database_url: str) -> AsyncIterator[Engines]:
    async for engines in _engines(database_url, 0.0):
        yield engines


@pytest.fixture
async def not_pinging(database_url: str) -> AsyncIterator[Engines]:
    async for engines in _engines(database_url, 3600.0):
        yield engines


def _count_pings(engines: Engines, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    pings: list[Any] = []
    dialect = engines.writer.sync_engine.dialect
    original = dialect.do_ping

    def counting(dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        return original(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counting)
    return pings


async def _backend_pid(engines: Engines) -> int:
    async with engines.writer.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_connection_reused_right_away_is_not_pinged(
        not_pinging: Engines, monkeypatch: pytest.MonkeyPatch) -> None:
    pings = _count_pings(not_pinging, monkeypatch)
    first = await _backend_pid(not_pinging)
    assert [await _backend_pid(not_pinging) for _ in range(5)] == [first] * 5
    assert pings == []


async def test_an_idle_connection_dropped_by_the_database_is_replaced(
        pinging: Engines, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    pings = _count_pings(pinging, monkeypatch)
    dropped = await _backend_pid(pinging)
    async for other in _engines(database_url, 3600.0):
        async with other.writer.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": dropped})

    replacement = await _backend_pid(pinging)  # no error reaches the caller

    assert replacement != dropped
    assert len(pings) >= 1


async def _burst(engines: Engines, clients: int) -> tuple[int, int]:
    """Run `clients` queries at once: how many connections they used, and how many of those
    are still open afterwards."""

    async def backend_in_use() -> int:
        async with engines.writer.connect() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await conn.execute(text("SELECT pg_sleep(0.02)"))
            return int(pid)

    burst = set(await asyncio.gather(*(backend_in_use() for _ in range(clients))))
    async with engines.reader.connect() as conn:
        alive = (await conn.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"),
            {"pids": list(burst)})).scalar_one()
    return len(burst), int(alive)


async def test_a_burst_opens_at_most_the_pool_size_and_idle_extras_are_let_go(
        database_url: str) -> None:
    size = PoolSize(most=8, kept=3)
    engines = Engines.create(database_url, idle_before_ping=3600.0, pool=size)
    try:
        used, alive = await _burst(engines, size.most + 20)
        assert size.kept < used <= size.most
        # The connection asking is one of the kept ones.
        assert alive == size.kept
    finally:
        await engines.dispose()


async def test_each_process_sizes_its_pool_from_the_settings(settings: Settings) -> None:
    built = bootstrap.build(settings.model_copy(update={"database_pool_size": 6,
                                                       "database_pool_kept": 2}))
    try:
        used, alive = await _burst(built.database.engines, 30)
        assert 2 < used <= 6
        assert alive == 2
    finally:
        await built.close()


def test_a_pool_keeps_no_more_than_it_may_hold() -> None:
    with pytest.raises(ValueError, match="kept"):
        PoolSize(most=2, kept=3)
