"""POST /proxies/test is bounded: non-admins may not aim the pool at loopback, private or
link-local targets, and each user has a rate of proxy fetches and a number of tests at once.
GET /judge names credential headers without repeating them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from proxyfleet import bootstrap
from proxyfleet.api.app import create_app
from proxyfleet.core.proxies import ProxyAddress, ProxyProtocol
from proxyfleet.settings import Settings
from tests.conftest import Member, register
from tests.integration.pool.seeding import seed


@asynccontextmanager
async def _second_api(settings: Settings, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A second API process over the same database, with these settings changed."""
    built = bootstrap.build(settings.model_copy(update=changes))
    await built.start()
    transport = httpx.ASGITransport(app=create_app(built))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client
    finally:
        await built.close()


@pytest.fixture
async def strict_client(settings: Settings, container: bootstrap.Container,
                        ) -> AsyncIterator[httpx.AsyncClient]:
    """A small fetch allowance."""
    async with _second_api(settings, reach_fetches_per_minute=60) as client:
        yield client


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/", "http://localhost/", "http://[::1]/", "http://10.0.0.1/",
    "https://192.168.1.1/", "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/",
    "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/",
])
async def test_users_may_not_aim_the_pool_inside(client: httpx.AsyncClient, member: Member,
                                                 url: str) -> None:
    response = await client.post("/proxies/test", headers=member.headers, json={"url": url})
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "TARGET_NOT_ALLOWED"


async def test_admins_may_test_inside(client: httpx.AsyncClient, admin: Member) -> None:
    # No proxy in the pool: past the target rule, the answer is the pool's own 404.
    response = await client.post("/proxies/test", headers=admin.headers,
                                 json={"url": "http://127.0.0.1:9/"})
    assert response.status_code == 404


async def test_each_user_has_a_rate_of_fetches(strict_client: httpx.AsyncClient) -> None:
    member = await register(strict_client)
    other = await register(strict_client)
    # 1.0.0.1 is a public address, and with no proxy in the pool nothing is
    # fetched: each admitted test answers 404 after taking its fetches.
    body = {"url": "http://1.0.0.1:9/", "count": 50}
    first = await strict_client.post("/proxies/test", headers=member.headers, json=body)
    assert first.status_code == 404
    second = await strict_client.post("/proxies/test", headers=member.headers, json=body)
    assert second.status_code == 429
    assert second.json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(second.headers["Retry-After"]) <= 60
    small = await strict_client.post("/proxies/test", headers=member.headers,
                                     json=body | {"count": 10})
    assert small.status_code == 404  # ten fetches were left
    theirs = await strict_client.post("/proxies/test", headers=other.headers, json=body)
    assert theirs.status_code == 404


class SilentProxy:
    """A pool proxy that takes connections and answers nothing until let go; then it closes
    every connection it holds, and each new one at once."""

    def __init__(self) -> None:
        self.connected = asyncio.Event()
        self._held: list[asyncio.StreamWriter] = []
        self._holding = True
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> ProxyAddress:
        self._server = await asyncio.start_server(self._take, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return ProxyAddress("127.0.0.1", port, ProxyProtocol.HTTP)

    async def __aexit__(self, *_: object) -> None:
        self.let_go()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _take(self, _: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._holding:
            writer.close()
            return
        self._held.append(writer)
        self.connected.set()

    def let_go(self) -> None:
        self._holding = False
        for writer in self._held:
            writer.close()


async def test_each_user_has_a_number_of_tests_at_once(
        settings: Settings, container: bootstrap.Container) -> None:
    silent = SilentProxy()
    async with silent as proxy, _second_api(settings, reach_concurrent_tests=1) as api:
        await seed(container, [proxy], status="active", score=0.5)
        member, other = await register(api), await register(api)
        body = {"url": "http://1.0.0.1:9/", "count": 1, "timeout_seconds": 60}
        first = asyncio.ensure_future(api.post("/proxies/test", headers=member.headers,
                                               json=body))
        await asyncio.wait_for(silent.connected.wait(), 30)
        second = await api.post("/proxies/test", headers=member.headers, json=body)
        assert second.status_code == 429, second.text
        assert second.json()["error"]["code"] == "RATE_LIMITED"
        assert second.json()["error"]["details"]["concurrent"] == 1
        assert second.headers["Retry-After"] == "1"
        silent.let_go()
        answered = await first
        assert answered.status_code == 200, answered.text
        assert answered.json()["results"][0]["reachable"] is False
        # The finished test gave its place back; other users never shared it.
        again = await api.post("/proxies/test", headers=member.headers, json=body)
        assert again.status_code == 200, again.text
        theirs = await api.post("/proxies/test", headers=other.headers, json=body)
        assert theirs.status_code == 200, theirs.text


async def test_the_judge_leaves_credentials_out(client: httpx.AsyncClient) -> None:
    response = await client.get("/judge", headers={
        "Authorization": "Bearer pp_secret-key-value", "Cookie": "session=cookie-value",
        "Proxy-Authorization": "Basic dXNlcjpwYXNz", "X-Custom": "kept"})
    assert response.status_code == 200
    headers = response.json()["headers"]
    assert headers["Authorization"] == "[redacted]"
    assert headers["Cookie"] == "[redacted]"
    assert headers["Proxy-Authorization"] == "[redacted]"
    assert headers["X-Custom"] == "kept"
    for secret in ("secret-key-value", "cookie-value", "dXNlcjpwYXNz"):
        assert secret not in response.text
