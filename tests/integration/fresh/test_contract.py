"""Contract mends a new user ran into (seeds 001 and 004)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from proxyfleet.sim.lists import Body, ListServer
from tests.conftest import Member


@pytest.mark.parametrize("email", ["ops@corp.internal", "lab@office.local", "me@localhost"])
async def test_registration_accepts_internal_domains(client: httpx.AsyncClient,
                                                     email: str) -> None:
    response = await client.post("/auth/register", json={"email": email})
    assert response.status_code == 201, response.text
    assert response.json()["user"]["email"] == email


@pytest.mark.parametrize("email", ["notanemail", "a b@example.com", "x@-bad-.com", "@x.org"])
async def test_registration_refuses_malformed_addresses(client: httpx.AsyncClient,
                                                        email: str) -> None:
    response = await client.post("/auth/register", json={"email": email})
    assert response.status_code == 422
    fields = response.json()["error"]["details"]["fields"]
    assert fields[0]["field"] == "body.email"


@pytest.fixture
async def lists() -> AsyncIterator[ListServer]:
    async with ListServer({"/plain.txt": Body("10.9.0.1:8080\n10.9.0.2:3128\n")}) as server:
        yield server


async def test_a_new_active_source_is_scraped_at_once(client: httpx.AsyncClient,
                                                      admin: Member, member: Member,
                                                      lists: ListServer) -> None:
    added = await client.post("/sources", json={"url": lists.url("/plain.txt")},
                              headers=admin.headers)
    assert added.status_code == 201, added.text
    assert added.json()["scrape_queued"] is True
    for _ in range(200):  # no call to /scrape: the background scrape fills the pool
        pool = (await client.get("/proxies", headers=member.headers)).json()
        if pool["total_count"] == 2:
            break
        await asyncio.sleep(0.05)
    assert {p["ip"] for p in pool["items"]} == {"10.9.0.1", "10.9.0.2"}
    quiet = await client.post("/sources", json={"url": lists.url("/plain.txt") + "?v=2",
                                                "is_active": False}, headers=admin.headers)
    assert quiet.json()["scrape_queued"] is False


async def test_the_same_url_twice_is_409(client: httpx.AsyncClient, admin: Member,
                                         lists: ListServer) -> None:
    body = {"url": lists.url("/plain.txt"), "parser_name": "plaintext", "is_active": False}
    assert (await client.post("/sources", json=body, headers=admin.headers)).status_code == 201
    again = await client.post("/sources", json=body, headers=admin.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "SOURCE_EXISTS"
    listed = (await client.get("/sources", headers=admin.headers)).json()
    assert listed["total_count"] == 1


async def test_any_key_reads_sources_with_secrets_hidden(client: httpx.AsyncClient,
                                                         admin: Member, member: Member,
                                                         lists: ListServer) -> None:
    secret = lists.url("/plain.txt").replace("http://", "http://bob:hunter2@") + "?token=abc"
    added = (await client.post("/sources", json={"url": secret, "parser_name": "plaintext",
                                                 "is_active": False},
                               headers=admin.headers)).json()
    as_admin = (await client.get("/sources", headers=admin.headers)).json()["items"][0]
    assert "hunter2" in as_admin["url"] and "token=abc" in as_admin["url"]
    listed = await client.get("/sources", headers=member.headers)
    assert listed.status_code == 200
    one = await client.get(f"/sources/{added['id']}", headers=member.headers)
    for seen in (listed.json()["items"][0]["url"], one.json()["url"]):
        assert "hunter2" not in seen and "bob" not in seen and "abc" not in seen
        assert seen.endswith("/plain.txt?token=***") and "***@127.0.0.1" in seen
    changed = await client.patch(f"/sources/{added['id']}", json={"is_active": True},
                                 headers=member.headers)
    assert changed.status_code == 403


async def test_the_api_reference_declares_bearer_and_serves_its_page_offline(
        client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "pp_ API key",
        "description": "An API key: `Authorization: Bearer pp_…`."}
    assert schema["paths"]["/account"]["get"]["security"] == [{"bearerAuth": []}]
    assert "security" not in schema["paths"]["/auth/register"]["post"]
    page = (await client.get("/docs")).text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(a.startswith("/docs/assets/") for a in assets), assets
    for asset in assets:  # nothing from a CDN: every asset is served here
        served = await client.get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 500
