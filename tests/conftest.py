"""Shared fixtures: one fresh database per test run (SQLite by default, PostgreSQL when
PROXYFLEET_TEST_DATABASE_URL is set), emptied between tests; Redis when
PROXYFLEET_TEST_REDIS_URL is set."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from proxyfleet import bootstrap
from proxyfleet.api.app import create_app
from proxyfleet.core.accounts import Role
from proxyfleet.settings import Settings
from proxyfleet.storage import migrate
from proxyfleet.storage.database import Engines, normalise_url
from proxyfleet.storage.tables import Base

TEST_SECRET = "test-secret-not-for-production"


def _server_url() -> str | None:
    return os.environ.get("PROXYFLEET_TEST_DATABASE_URL") or None


async def _admin_sql(url: str, statement: str) -> None:
    engine = create_async_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def _migrate(url: str) -> None:
    engines = Engines.create(url)
    try:
        await migrate.upgrade(engines)
    finally:
        await engines.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = _server_url()
    if server is None:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'proxyfleet.db'}"
        asyncio.run(_migrate(url))
        yield url
        return
    name = f"proxyfleet_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin_sql(server, f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        asyncio.run(_migrate(url))
        yield url
    finally:
        asyncio.run(_admin_sql(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def redis_url() -> str | None:
    return os.environ.get("PROXYFLEET_TEST_REDIS_URL") or None


async def _empty_tables(url: str) -> None:
    engines = Engines.create(url)
    try:
        async with engines.writer.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                await conn.execute(table.delete())
    finally:
        await engines.dispose()


@pytest.fixture
def settings(database_url: str, redis_url: str | None, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, redis_url=redis_url, data_dir=tmp_path,
                    secret_key=TEST_SECRET, redis_prefix=f"pftest:{uuid.uuid4().hex[:8]}:")


@pytest.fixture
async def container(settings: Settings) -> AsyncIterator[bootstrap.Container]:
    await _empty_tables(settings.effective_database_url)
    built = bootstrap.build(settings)
    await built.start()
    try:
        yield built
    finally:
        await built.close()
        await _forget_redis_keys(settings)


async def _forget_redis_keys(settings: Settings) -> None:
    """Each test's Redis keys live under its own prefix; remove them afterwards."""
    if settings.redis_url is None:
        return
    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{settings.redis_prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def client(container: bootstrap.Container) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(container))
    async with httpx.AsyncClient(transport=transport, base_url="http://proxyfleet.test") as c:
        yield c


class Member:
    """A registered user as a test sees it: id, raw key, and the headers to use it."""

    def __init__(self, user_id: str, key: str, key_id: str) -> None:
        self.id = user_id
        self.key = key
        self.key_id = key_id

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def register(client: httpx.AsyncClient, email: str | None = None) -> Member:
    email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
    response = await client.post("/auth/register", json={"email": email})
    assert response.status_code == 201, response.text
    body = response.json()
    return Member(body["user"]["id"], body["api_key"]["key"], body["api_key"]["id"])


@pytest.fixture
async def admin(container: bootstrap.Container) -> Member:
    user, issued = await container.accounts.register(
        f"admin-{uuid.uuid4().hex[:8]}@example.com", "Admin", Role.ADMIN)
    return Member(str(user.id), issued.raw, str(issued.key.id))


@pytest.fixture
async def member(client: httpx.AsyncClient) -> Member:
    return await register(client)
