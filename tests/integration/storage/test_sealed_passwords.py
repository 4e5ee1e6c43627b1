"""Proxy passwords are sealed at rest: no column and no SQLite file holds one in plain text,
though admins and checks still get them; migration 0010 seals the plain passwords an older
database holds, and refuses to run on such a database without the secret key."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from alembic import command
from sqlalchemy import Connection, select, text
from sqlalchemy.engine import make_url

from proxyfleet.bootstrap import Container
from proxyfleet.core.clock import utcnow
from proxyfleet.core.proxies import (
    CheckSubject,
    ProxyAddress,
    ProxyFilter,
    ProxyOrigin,
    ProxyProtocol,
    SortField,
)
from proxyfleet.storage import migrate
from proxyfleet.storage.database import Engines
from proxyfleet.storage.proxies import ProxiesRepository
from proxyfleet.storage.sealing import SecretBox
from proxyfleet.storage.tables import ProxyRow
from tests.conftest import TEST_SECRET, Member, _admin_sql
from tests.integration.storage.at_rest import every_value, sqlite_files

SECRETS = ["hunter2-plain-secret", "pässwörd-ünïcode", "p@ss:with:colons"]


async def test_no_proxy_password_is_stored_in_plain_text(
        client: httpx.AsyncClient, container: Container, admin: Member) -> None:
    response = await client.post("/proxies", headers=admin.headers, json={"proxies": [
        {"ip": "10.7.0.1", "port": 8080, "protocol": "http", "username": "u1",
         "password": SECRETS[0]},
        {"ip": "10.7.0.2", "port": 1080, "protocol": "socks5", "username": "u2",
         "password": SECRETS[1]}]})
    assert response.status_code == 201, response.text
    await container.inventory.add(
        [ProxyAddress("10.7.0.3", 3128, ProxyProtocol.HTTPS, "u3", SECRETS[2])],
        ProxyOrigin.MANUAL)

    values = await every_value(container)
    for secret in SECRETS:
        assert not any(secret in value for value in values)
    async with container.database.engines.reader.connect() as conn:
        stored = (await conn.execute(select(ProxyRow.password))).scalars().all()
    assert len(stored) == 3
    assert all(SecretBox.looks_sealed(token) for token in stored)
    for path in sqlite_files(container):
        content = path.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in content, path

    listed = (await client.get("/proxies", headers=admin.headers)).json()["items"]
    assert sorted(p["password"] for p in listed) == sorted(SECRETS)
    subjects = await _subjects(container)
    assert sorted(s.address.password for s in subjects) == sorted(SECRETS)


async def _subjects(container: Container) -> list[CheckSubject]:
    ids = await container.checking.claim_due()
    async with container.database.reading() as uow:
        return list(await uow.checks.subjects(ids))


async def test_a_re_import_without_credentials_keeps_the_sealed_ones(
        container: Container) -> None:
    with_login = ProxyAddress("10.7.1.1", 8080, ProxyProtocol.HTTP, "u", SECRETS[0])
    await container.inventory.add([with_login], ProxyOrigin.MANUAL)
    await container.inventory.add([ProxyAddress("10.7.1.1", 8080, ProxyProtocol.HTTP)],
                                  ProxyOrigin.MANUAL)
    async with container.database.reading() as uow:
        page = await uow.proxies.page(ProxyFilter(), SortField.SCORE, True, 10, None)
    assert [(p.address.username, p.address.password) for p, _ in page] == [("u", SECRETS[0])]


@pytest.fixture
async def old_database(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database of its own, migrated only as far as 0009 (before sealing)."""
    if make_url(database_url).get_backend_name() == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
        yield url
        return
    name = f"proxyfleet_old_{uuid.uuid4().hex[:12]}"
    await _admin_sql(database_url, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin_sql(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _upgrade_to(connection: Connection, revision: str) -> None:
    command.upgrade(migrate._config(connection), revision)


async def test_the_migration_seals_plain_passwords(old_database: str) -> None:
    box = SecretBox(TEST_SECRET.encode())
    engines = Engines.create(old_database)
    try:
        async with engines.writer.begin() as conn:
            await conn.run_sync(_upgrade_to, "0009")
        row = ProxiesRepository._new_row(
            ProxyAddress("10.8.0.1", 8080, ProxyProtocol.HTTP, "old", "x"),
            ProxyOrigin.MANUAL, None, utcnow(), box) | {"password": SECRETS[0]}
        async with engines.writer.begin() as conn:
            await conn.execute(ProxyRow.__table__.insert(), [row])

        with pytest.raises(RuntimeError, match="secret key"):
            await migrate.upgrade(engines)
        assert await migrate.current_revision(engines) == "0009"

        await migrate.upgrade(engines, box)
        assert await migrate.current_revision(engines) == migrate.head_revision()
        async with engines.reader.connect() as conn:
            stored = (await conn.execute(select(ProxyRow.password))).scalar_one()
            assert SecretBox.looks_sealed(stored)
            assert box.open(stored) == SECRETS[0]
            assert (await conn.execute(text("SELECT count(*) FROM proxies"))).scalar() == 1
        await migrate.upgrade(engines, box)  # at the head: nothing sealed twice
        async with engines.reader.connect() as conn:
            assert box.open((await conn.execute(select(ProxyRow.password))).scalar_one()) \
                == SECRETS[0]
    finally:
        await engines.dispose()
