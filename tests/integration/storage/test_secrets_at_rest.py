"""The raw API key never reaches the database: not in any column, not in the SQLite files."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.engine import make_url

from proxyfleet.bootstrap import Container
from proxyfleet.storage.tables import Base
from tests.conftest import register


async def _every_value(container: Container) -> list[str]:
    values: list[str] = []
    async with container.database.engines.reader.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in await conn.execute(select(table)):
                values.extend(str(v) for v in row)
    return values


async def test_raw_keys_are_not_stored(client: httpx.AsyncClient, container: Container) -> None:
    member = await register(client)
    extra = (await client.post("/auth/keys", headers=member.headers)).json()["key"]
    raw_keys = [member.key, extra]
    values = await _every_value(container)
    assert any(v.startswith(member.key[:8]) for v in values)  # the display prefix is stored
    for raw in raw_keys:
        body = raw.removeprefix("pp_")
        assert not any(body in value for value in values)

    url = make_url(container.settings.effective_database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        files = Path(url.database).parent.glob(Path(url.database).name + "*")
        for path in files:
            content = path.read_bytes()
            for raw in raw_keys:
                assert raw.removeprefix("pp_").encode() not in content, path
