"""database_error: a running `proxyfleet serve` whose database breaks or stops answers 503 in
seed 000's shape (never a 500, never a traceback), and serves again once it is back.

Each test has a database of its own, since it breaks it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from proxyfleet import bootstrap
from proxyfleet.core.accounts import Role
from proxyfleet.settings import Settings
from tests.conftest import TEST_SECRET, _admin_sql, _migrate
from tests.integration.test_process import running_server

pytestmark = pytest.mark.slow

PROXY = {"ip": "192.168.1.1", "port": 8080, "session": "cookie"}


async def _own_database(shared_url: str, tmp_path: Path) -> str:
    if make_url(shared_url).get_backend_name() == "sqlite":
        url = f"sqlite:///{tmp_path / 'breakable.db'}"
    else:
        name = f"proxyfleet_break_{uuid.uuid4().hex[:10]}"
        await _admin_sql(shared_url, f'CREATE DATABASE "{name}"')
        url = make_url(shared_url).set(database=name).render_as_string(hide_password=False)
    await _migrate(url)
    return url


async def _admin_key(url: str, tmp_path: Path) -> str:
    built = bootstrap.build(Settings(database_url=url, data_dir=tmp_path / "keys",
                                     secret_key=TEST_SECRET))
    try:
        _, issued = await built.accounts.register("admin@example.com", "Admin", Role.ADMIN)
    finally:
        await built.database.dispose()
    return issued.raw


async def _sql(url: str, *statements: str) -> None:
    engines = bootstrap.Database.connect(url, bootstrap.SecretBox(b"x")).engines
    try:
        async with engines.writer.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engines.dispose()


async def _assert_database_error(http: httpx.AsyncClient, base: str,
                                 headers: dict[str, str]) -> None:
    for response in (await http.get(f"{base}/api/proxies", headers=headers),
                     await http.post(f"{base}/api/proxies", json=PROXY, headers=headers)):
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["error"] == "database_error" and body["message"]
        assert "Traceback" not in response.text


@pytest.fixture
async def breakable(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    url = await _own_database(database_url, tmp_path)
    yield url
    if make_url(url).get_backend_name() != "sqlite":
        name = make_url(url).database
        await _admin_sql(database_url, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await _admin_sql(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_a_broken_database_is_a_database_error(breakable: str, tmp_path: Path,
                                                     database_url: str) -> None:
    if make_url(breakable).get_backend_name() != "sqlite":
        pytest.skip("PostgreSQL is stopped instead, in the test below")
    headers = {"Authorization": f"Bearer {await _admin_key(breakable, tmp_path)}"}
    with running_server(tmp_path / "data", breakable, None) as base:
        async with httpx.AsyncClient(timeout=30) as http:
            assert (await http.post(f"{base}/api/proxies", json=PROXY,
                                    headers=headers)).status_code == 201
            # Break it under the running server: the inventory's table is gone.
            await _sql(breakable, "PRAGMA foreign_keys=OFF", "DROP TABLE account_sessions",
                       "DROP TABLE proxies")
            await _assert_database_error(http, base, headers)
            health = await http.get(f"{base}/health")
            assert health.status_code in {200, 503}


async def test_a_stopped_database_is_a_database_error_until_it_is_back(
        breakable: str, tmp_path: Path, database_url: str) -> None:
    if make_url(breakable).get_backend_name() == "sqlite":
        pytest.skip("SQLite has no server to stop; it is broken instead, in the test above")
    name = make_url(breakable).database
    headers = {"Authorization": f"Bearer {await _admin_key(breakable, tmp_path)}"}
    with running_server(tmp_path / "data", breakable, None) as base:
        async with httpx.AsyncClient(timeout=30) as http:
            assert (await http.get(f"{base}/api/proxies", headers=headers)).status_code == 200
            # Stop it for this server: no new connections, and every open one cut.
            await _admin_sql(database_url, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await _admin_sql(database_url, "SELECT pg_terminate_backend(pid) FROM "
                             f"pg_stat_activity WHERE datname = '{name}'")
            await asyncio.sleep(1.5)  # past the key cache: the key is looked up again
            await _assert_database_error(http, base, headers)
            await _admin_sql(database_url, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            back = await http.get(f"{base}/api/proxies", headers=headers)
            assert back.status_code == 200, back.text
