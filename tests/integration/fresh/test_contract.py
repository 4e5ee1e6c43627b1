"""Contract mends a new user ran into (seeds 001 and 004)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from proxyfleet import bootstrap
from proxyfleet.api.app import create_app
from proxyfleet.api.ipv6.schemas import InstanceDetailOut
from proxyfleet.bootstrap import Container
from proxyfleet.core.clock import utcnow
from proxyfleet.settings import Settings
from proxyfleet.sim.lists import Body, ListServer
from tests.conftest import Member
from tests.integration.pool.seeding import addresses, funded, seed, set_fields


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
                                                      lists: ListServer,
                                                      container: Container) -> None:
    container.start_consumer()  # with Redis, as serve does: this process consumes the stream
    added = await client.post("/sources", json={"url": lists.url("/plain.txt")},
                              headers=admin.headers)
    assert added.status_code == 201, added.text
    assert added.json()["scrape_queued"] is True
    for _ in range(300):  # no call to /scrape: the background scrape fills the pool
        pool = (await client.get("/proxies", headers=member.headers)).json()
        if len(pool["items"]) == 2:
            break
        await asyncio.sleep(0.1)
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
    assert assets and all(a.startswith("/") and not a.startswith("//") for a in assets), assets
    for asset in assets:  # nothing from a CDN: every asset is served here
        served = await client.get(asset)
        assert served.status_code == 200, asset
        assert served.content  # the file itself, not an empty answer


async def test_pool_stats_carry_every_bucket_with_zeros(client: httpx.AsyncClient,
                                                        container: Container,
                                                        member: Member) -> None:
    empty = (await client.get("/stats/pool", headers=member.headers)).json()
    assert empty["by_status"] == {"unchecked": 0, "active": 0, "dead": 0}
    assert empty["by_protocol"] == {"http": 0, "https": 0, "socks4": 0, "socks5": 0}
    assert empty["by_anonymity"] == {"transparent": 0, "anonymous": 0, "elite": 0}
    await seed(container, addresses(2, net=41), status="active", anonymity="elite")
    some = (await client.get("/stats/pool", headers=member.headers)).json()
    assert some["by_status"] == {"unchecked": 0, "active": 2, "dead": 0}
    assert some["by_anonymity"] == {"transparent": 0, "anonymous": 0, "elite": 2}


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("sort", ["score", "latency", "uptime", "last_checked"])
async def test_unmeasured_proxies_sort_last_in_either_order(
        client: httpx.AsyncClient, container: Container, member: Member, sort: str,
        order: str) -> None:
    measured = addresses(3, net=42)
    await seed(container, measured, status="active", avg_latency_ms=100.0, uptime_pct=90.0,
               score=0.5)
    for n, proxy in enumerate(measured):  # distinct values, so the order is checked too
        await set_fields(container, proxy.host, avg_latency_ms=100.0 + n, uptime_pct=90.0 + n,
                         score=0.5 + n / 10,
                         last_checked_at=utcnow() - timedelta(minutes=5 - n))
    await seed(container, addresses(4, net=43))  # never checked: nothing measured
    hosts: list[str] = []
    cursor = None
    while True:  # two at a time, so a page boundary falls inside each part
        params = {"sort": sort, "order": order, "limit": 2} | ({"cursor": cursor} if cursor
                                                                else {})
        page = (await client.get("/proxies", params=params, headers=member.headers)).json()
        hosts += [p["ip"] for p in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    ranked = [m.host for m in measured]
    assert hosts[:3] == (ranked if order == "asc" else ranked[::-1])
    assert sorted(hosts[3:]) == sorted(p.host for p in addresses(4, net=43))
    assert len(hosts) == len(set(hosts)) == 7


async def test_a_write_shows_in_this_process_total_at_once(client: httpx.AsyncClient,
                                                          admin: Member) -> None:
    # The count cache (5 s by default) must not hide this process's own writes.
    assert (await client.get("/proxies", headers=admin.headers)).json()["total_count"] == 0
    added = await client.post("/proxies", headers=admin.headers, json={"proxies": [
        {"ip": "10.44.0.1", "port": 8080, "protocol": "http"},
        {"ip": "10.44.0.2", "port": 8080, "protocol": "http"}]})
    assert added.status_code in (200, 201), added.text
    assert (await client.get("/proxies", headers=admin.headers)).json()["total_count"] == 2


async def walk(client: httpx.AsyncClient, path: str, member: Member) -> tuple[list[str], set[int]]:
    """Every item's id over pages of 2, and the total_count each page said."""
    ids: list[str] = []
    totals: set[int] = set()
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = await client.get(path, params=params, headers=member.headers)
        assert page.status_code == 200, page.text
        body = page.json()
        assert set(body) == {"items", "next_cursor", "total_count"}
        ids += [item.get("id") or item["lease_id"] for item in body["items"]]
        totals.add(body["total_count"])
        if not (cursor := body["next_cursor"]):
            return ids, totals


async def test_keys_and_leases_are_paginated(client: httpx.AsyncClient, container: Container,
                                             admin: Member) -> None:
    member = await funded(client, admin, 10)
    for _ in range(4):
        assert (await client.post("/auth/keys", headers=member.headers)).status_code == 201
    keys, totals = await walk(client, "/auth/keys", member)
    assert len(keys) == len(set(keys)) == 5
    assert totals == {5}
    await seed(container, addresses(3, net=45), status="active", score=0.5)
    for _ in range(3):
        leased = await client.post("/proxies/acquire", json={}, headers=member.headers)
        assert leased.status_code == 200, leased.text
    leases, totals = await walk(client, "/account/leases", member)
    assert len(leases) == len(set(leases)) == 3
    assert totals == {3}
    bad = await client.get("/auth/keys", params={"cursor": "nope"}, headers=member.headers)
    assert bad.status_code == 422


async def test_seed_004_routes_answer_one_shape_even_for_keys(client: httpx.AsyncClient,
                                                              member: Member) -> None:
    for headers, status in (({}, 401), ({"Authorization": "Bearer pp_wrong"}, 401),
                            (member.headers, 403)):
        response = await client.get("/api/list_proxies", headers=headers)
        assert response.status_code == status
        body = response.json()
        assert isinstance(body["error"], str) and body["error"], body  # seed 004's flat shape
        assert body["code"] in {"UNAUTHORIZED", "FORBIDDEN"}


@pytest.mark.parametrize("peer", ["127.0.0.1", "192.0.2.5"])
async def test_keyless_loopback_calls_when_the_setting_allows(
        settings: Settings, peer: str, member: Member) -> None:
    allowed = bootstrap.build(settings.model_copy(update={"ipv6_api_keyless_loopback": True}))
    await allowed.start()
    try:
        transport = httpx.ASGITransport(app=create_app(allowed), client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as local:
            keyless = await local.get("/api/stats")
            assert keyless.status_code == (200 if peer == "127.0.0.1" else 401), keyless.text
            # a key sent is checked as ever, from loopback too
            keyed = await local.get("/api/stats", headers=member.headers)
            assert keyed.status_code == 403
            assert (await local.get("/account")).status_code == 401  # 004's routes only
    finally:
        await allowed.close()


async def test_keyless_calls_are_refused_by_default(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/stats")).status_code == 401  # ASGI peer is 127.0.0.1


def test_instance_stats_always_carry_last_activity() -> None:
    detail = InstanceDetailOut.model_validate({
        "instance_id": "i", "ipv6_address": "2001:db8::1", "interface": "eth0",
        "type": "http", "created_at": 1.0, "status": "running",
        "stats": {"connections": 0, "bytes_sent": 0, "bytes_received": 0,
                  "last_activity_ts": None, "uptime": 1.0}})
    shown = detail.model_dump(mode="json", exclude_none=True)  # as the routes answer
    assert shown["stats"]["last_activity_ts"] is None
    assert "expires_at" not in shown
