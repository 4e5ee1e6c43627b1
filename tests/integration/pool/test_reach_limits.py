"""POST /proxies/test is bounded: non-admins may not aim the pool at loopback, private or
link-local targets, and each user has a rate of proxy fetches. GET /judge names credential
headers without repeating them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from proxyfleet import bootstrap
from proxyfleet.api.app import create_app
from proxyfleet.settings import Settings
from tests.conftest import Member, register


@pytest.fixture
async def strict_client(settings: Settings, container: bootstrap.Container,
                        ) -> AsyncIterator[httpx.AsyncClient]:
    """A second API process over the same database, with a small fetch allowance."""
    built = bootstrap.build(settings.model_copy(update={"reach_fetches_per_minute": 60}))
    await built.start()
    transport = httpx.ASGITransport(app=create_app(built))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client
    finally:
        await built.close()


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
