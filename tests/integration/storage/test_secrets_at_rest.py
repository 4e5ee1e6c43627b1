"""The raw API key never reaches the database: not in any column, not in the SQLite files."""

from __future__ import annotations

import httpx

from proxyfleet.bootstrap import Container
from tests.conftest import register
from tests.integration.storage.at_rest import every_value, sqlite_files


async def test_raw_keys_are_not_stored(client: httpx.AsyncClient, container: Container) -> None:
    member = await register(client)
    extra = (await client.post("/auth/keys", headers=member.headers)).json()["key"]
    raw_keys = [member.key, extra]
    values = await every_value(container)
    assert any(v.startswith(member.key[:8]) for v in values)  # the display prefix is stored
    for raw in raw_keys:
        body = raw.removeprefix("pp_")
        assert not any(body in value for value in values)
    for path in sqlite_files(container):
        content = path.read_bytes()
        for raw in raw_keys:
            assert raw.removeprefix("pp_").encode() not in content, path
