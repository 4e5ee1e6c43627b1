"""GET /proxies: every documented filter, sorts, stable cursor pages; detail; manual adds."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx

from proxyfleet.bootstrap import Container
from proxyfleet.core.clock import utcnow
from proxyfleet.core.proxies import ProxyAddress, ProxyProtocol
from tests.conftest import Member
from tests.integration.pool.seeding import addresses, seed, set_fields


async def _all_pages(client: httpx.AsyncClient, headers: dict[str, str],
                     **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        response = await client.get("/proxies", params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def _varied_pool(container: Container) -> list[ProxyAddress]:
    pool = addresses(30)
    await seed(container, pool)
    now = utcnow()
    for i, proxy in enumerate(pool):
        await set_fields(
            container, proxy.host, status=["active", "dead", "unchecked"][i % 3],
            protocol=["http", "socks5"][i % 2], anonymity=["elite", "anonymous", None][i % 3],
            country=["US", "DE"][i % 2], score=round(i / 30, 3), avg_latency_ms=100.0 + i * 10,
            uptime_pct=float(i * 3), last_checked_at=now - timedelta(minutes=i, seconds=30))
    return pool


async def test_every_filter_narrows_the_pool(client: httpx.AsyncClient, container: Container,
                                             member: Member) -> None:
    await _varied_pool(container)
    cases: list[tuple[dict[str, Any], int]] = [
        ({}, 30), ({"status": "active"}, 10), ({"protocol": "socks5"}, 15),
        ({"anonymity": "elite"}, 10), ({"country": "us"}, 15), ({"min_score": 0.5}, 15),
        ({"max_latency_ms": 200}, 11), ({"min_uptime_pct": 45}, 15),
        ({"verified_within_minutes": 10}, 10),
        ({"status": "active", "protocol": "http", "country": "US"}, 5),
    ]
    for params, expected in cases:
        items = await _all_pages(client, member.headers, limit=7, **params)
        assert len(items) == expected, params
        page = (await client.get("/proxies", params=params, headers=member.headers)).json()
        assert page["total_count"] == expected, params


async def test_sorts_and_orders(client: httpx.AsyncClient, container: Container,
                                member: Member) -> None:
    await _varied_pool(container)
    by_score = await _all_pages(client, member.headers, limit=4)
    scores = [p["score"] for p in by_score]
    assert scores == sorted(scores, reverse=True)
    by_latency = await _all_pages(client, member.headers, sort="latency", limit=4)
    latencies = [p["avg_latency_ms"] for p in by_latency]
    assert latencies == sorted(latencies)
    oldest_first = await _all_pages(client, member.headers, sort="last_checked", order="asc",
                                    limit=4)
    checked = [p["last_checked_at"] for p in oldest_first]
    assert checked == sorted(checked)
    uptime = await _all_pages(client, member.headers, sort="uptime", order="asc", limit=4)
    assert [p["uptime_pct"] for p in uptime] == sorted(p["uptime_pct"] for p in uptime)


async def test_unchecked_proxies_sort_last_and_show_nulls(
        client: httpx.AsyncClient, container: Container, member: Member) -> None:
    checked, fresh = addresses(2)
    await seed(container, [checked], status="active", score=0.2, avg_latency_ms=50.0,
               uptime_pct=90.0)
    await seed(container, [fresh])
    for sort in ["latency", "uptime", "last_checked", "score"]:
        items = (await client.get("/proxies", params={"sort": sort},
                                  headers=member.headers)).json()["items"]
        assert [p["ip"] for p in items] == [checked.host, fresh.host], sort
    unchecked = items[1]
    assert (unchecked["avg_latency_ms"], unchecked["uptime_pct"],
            unchecked["last_checked_at"], unchecked["status"]) == (None, None, None, "unchecked")


async def test_cursor_pages_are_stable_while_the_pool_changes(
        client: httpx.AsyncClient, container: Container, member: Member) -> None:
    pool = addresses(40)
    await seed(container, pool, status="active")
    for i, proxy in enumerate(pool):
        await set_fields(container, proxy.host, score=round((i % 10) / 10, 2))  # many ties
    first = (await client.get("/proxies", params={"limit": 15},
                              headers=member.headers)).json()
    await seed(container, addresses(5, net=99), status="active", score=0.0)  # lands at the end
    await seed(container, addresses(5, net=98), status="active", score=0.95)  # before cursor
    rest = await _all_pages(client, member.headers, limit=15, cursor=first["next_cursor"])
    seen = [p["id"] for p in first["items"]] + [p["id"] for p in rest]
    assert len(seen) == len(set(seen))
    original = {p["id"] for p in (await _all_pages(client, member.headers, limit=200))
                if p["ip"].startswith("10.10.")}
    assert original <= set(seen)


async def test_bad_query_parameters_are_422(client: httpx.AsyncClient,
                                            member: Member) -> None:
    for params in [{"status": "alive"}, {"protocol": "ftp"}, {"limit": 0}, {"limit": 201},
                   {"min_score": 2}, {"sort": "speed"}, {"order": "sideways"},
                   {"country": "USA"}, {"cursor": "!!!"}, {"verified_within_minutes": 0}]:
        response = await client.get("/proxies", params=params, headers=member.headers)
        assert response.status_code == 422, params
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    page = (await client.get("/proxies", params={"limit": 1}, headers=member.headers)).json()
    assert page["next_cursor"] is None


async def test_a_cursor_only_fits_its_own_ordering(client: httpx.AsyncClient,
                                                   container: Container, member: Member) -> None:
    await seed(container, addresses(5), status="active")
    cursor = (await client.get("/proxies", params={"limit": 2},
                               headers=member.headers)).json()["next_cursor"]
    other = await client.get("/proxies", params={"cursor": cursor, "sort": "latency"},
                             headers=member.headers)
    assert other.status_code == 422


async def test_detail_has_recent_checks_and_404s(client: httpx.AsyncClient,
                                                 container: Container, member: Member) -> None:
    await seed(container, addresses(1))
    [proxy] = (await client.get("/proxies", headers=member.headers)).json()["items"]
    detail = (await client.get(f"/proxies/{proxy['id']}", headers=member.headers)).json()
    assert detail == {"proxy": proxy, "recent_checks": []}
    missing = await client.get(f"/proxies/{uuid.uuid4()}", headers=member.headers)
    assert missing.status_code == 404


async def test_admins_add_proxies_and_see_credentials(client: httpx.AsyncClient,
                                                      admin: Member, member: Member) -> None:
    body = {"proxies": [
        {"ip": "203.0.113.7", "port": 8080, "protocol": "http", "username": "u",
         "password": "p"},
        {"ip": "2001:DB8::1", "port": 1080, "protocol": "socks5"},
    ]}
    added = await client.post("/proxies", json=body, headers=admin.headers)
    assert added.status_code == 201, added.text
    assert added.json() == {"proxies_discovered": 2, "proxies_new": 2, "proxies_updated": 0}
    again = await client.post("/proxies", json=body, headers=admin.headers)
    assert again.json() == {"proxies_discovered": 2, "proxies_new": 0, "proxies_updated": 2}

    as_admin = await _all_pages(client, admin.headers)
    assert {(p["ip"], p["username"]) for p in as_admin} == {("203.0.113.7", "u"),
                                                             ("2001:db8::1", None)}
    as_user = await _all_pages(client, member.headers)
    assert all(p["username"] is None and p["password"] is None for p in as_user)
    forbidden = await client.post("/proxies", json=body, headers=member.headers)
    assert forbidden.status_code == 403
    bad = await client.post("/proxies", headers=admin.headers,
                            json={"proxies": [{"ip": "999.1.1.1", "port": 80}]})
    assert bad.status_code == 422
    assert len(await _all_pages(client, admin.headers)) == 2


async def test_same_endpoint_with_another_protocol_is_another_proxy(
        client: httpx.AsyncClient, container: Container, member: Member) -> None:
    host = ProxyAddress("198.51.100.1", 1080, ProxyProtocol.SOCKS4)
    await seed(container, [host, ProxyAddress(host.host, host.port, ProxyProtocol.SOCKS5)])
    assert len(await _all_pages(client, member.headers)) == 2
