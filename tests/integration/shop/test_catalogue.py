"""Catalogue sync against the simulated provider (adds, updates, skips, removes; failures
change nothing) and the list endpoint's exact shape and filters."""

from __future__ import annotations

import asyncio

import httpx

from proxyfleet.bootstrap import Container, build_shop
from proxyfleet.sim.upstream import UpstreamSim
from tests.conftest import Member
from tests.integration.shop.conftest import listed, synced

SEED_PRODUCT_KEYS = {"product_id", "proxy_id", "country", "country_code", "city", "ISP",
                     "price", "status"}


def _online(upstream: UpstreamSim) -> list[int]:
    return sorted(p.proxy_id for p in upstream.products if p.status == 1 and not p.sold)


async def test_sync_adds_skips_updates_and_removes(
        client: httpx.AsyncClient, admin: Member, member: Member,
        upstream: UpstreamSim) -> None:
    first = await synced(client, admin)
    online = _online(upstream)
    assert set(first) == {"total_fetched", "total_available_external", "added", "updated",
                          "skipped", "sync_time"}
    assert (first["total_fetched"], first["added"], first["updated"], first["skipped"]) == (
        len(online), len(online), 0, 0)
    assert first["total_available_external"] == len(online)
    assert str(first["sync_time"]).endswith("Z")
    assert sorted(p["proxy_id"] for p in (await listed(client, member))["proxies"]) == online

    again = await synced(client, admin)
    assert (again["added"], again["updated"], again["skipped"]) == (0, 0, len(online))

    gone, changed = online[0], online[1]
    await upstream.set_status(gone, 0)
    moved = upstream.product_by_proxy(changed)
    assert moved is not None
    moved.city = "Elsewhere"
    new = upstream.add_products(5)
    new_online = [p.proxy_id for p in new if p.status == 1]
    third = await synced(client, admin)
    assert (third["added"], third["updated"], third["skipped"]) == (
        len(new_online), 1, len(online) - 2)
    body = await listed(client, member)
    shown = {p["proxy_id"]: p for p in body["proxies"]}
    assert gone not in shown
    assert shown[changed]["city"] == "Elsewhere"
    assert set(shown) == set(_online(upstream))
    assert body["total"] == len(_online(upstream))


async def test_list_has_the_seeds_shape_and_filters(
        client: httpx.AsyncClient, admin: Member, member: Member,
        upstream: UpstreamSim) -> None:
    await synced(client, admin)
    raw = await client.get("/api/external-proxy/list", headers=member.headers,
                           params={"page_size": 3})
    assert b'"price":2.00' in raw.content  # rendered as the seed shows it
    body = raw.json()
    assert set(body) == {"proxies", "total", "page", "page_size"}
    assert (body["page"], body["page_size"], len(body["proxies"])) == (0, 3, 3)
    assert all(set(p) == SEED_PRODUCT_KEYS for p in body["proxies"])
    assert all(p["price"] == 2.0 and p["status"] == 1 for p in body["proxies"])

    online = [p for p in upstream.products if p.status == 1]
    code = online[0].country_code
    by_country = await listed(client, member, country_code=code.lower())
    assert by_country["total"] == sum(p.country_code == code for p in online)
    assert {p["country_code"] for p in by_country["proxies"]} == {code}
    city = online[0].city
    by_city = await listed(client, member, city=city)
    assert by_city["total"] == sum(p.city == city for p in online)
    mobile = await listed(client, member, type="mobile")
    assert mobile["total"] == sum(p.mobile for p in online)
    hosting = await listed(client, member, type="hosting")
    assert hosting["total"] == sum(p.hosting and not p.mobile for p in online)

    pages = [await listed(client, member, page=n, page_size=7) for n in range(8)]
    ids = [p["proxy_id"] for page in pages for p in page["proxies"]]
    assert len(ids) == len(set(ids)) == len(online)

    bad = await client.get("/api/external-proxy/list", headers=member.headers,
                           params={"type": "satellite", "page": -1})
    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["detail"]} == {("query", "type"),
                                                               ("query", "page")}


async def test_a_failed_sync_changes_nothing_and_is_reported(
        client: httpx.AsyncClient, admin: Member, member: Member,
        upstream: UpstreamSim) -> None:
    await synced(client, admin)
    before = await listed(client, member)
    await upstream.set_status(before["proxies"][0]["proxy_id"], 0)  # type: ignore[index]
    upstream.add_products(3)
    async with httpx.AsyncClient() as control:
        await control.post(f"{upstream.control_url}/fail-next", json={"kind": "server_error"})
    failed = await client.post("/api/external-proxy/sync", headers=admin.headers, json={})
    assert failed.status_code == 502
    assert "upstream" in failed.json()["detail"].lower()
    assert await listed(client, member) == before
    status = (await client.get("/api/external-proxy/scheduler-status",
                               headers=admin.headers)).json()
    assert "503" in status["last_error"]
    assert status["last_error_at"] is not None


async def test_sync_keeps_within_the_rate_limit(
        client: httpx.AsyncClient, admin: Member, member: Member,
        upstream: UpstreamSim) -> None:
    async with httpx.AsyncClient() as control:
        await control.post(f"{upstream.control_url}/rate-limit", json={"per_second": 3})
    report = (await client.post("/api/external-proxy/sync", headers=admin.headers,
                                json={"page_size": 5})).json()
    assert report["added"] == len(_online(upstream))
    assert (await listed(client, member))["total"] == len(_online(upstream))


async def test_admin_routes_are_for_admins(client: httpx.AsyncClient, member: Member) -> None:
    for method, path in [("POST", "/sync"), ("POST", "/cleanup"), ("GET", "/stats"),
                         ("GET", "/scheduler-status")]:
        response = await client.request(method, f"/api/external-proxy{path}",
                                        headers=member.headers)
        assert response.status_code == 403, path
        assert response.json() == {"detail": "This endpoint is for admins."}


async def test_the_scheduled_sync_runs_once_per_interval_across_processes(
        container: Container, upstream: UpstreamSim) -> None:
    # Two shops on one database, as two `serve` processes would have: both tick at once.
    other = build_shop(container.settings, container.database, container.checking)
    try:
        reports = await asyncio.gather(container.shop.sync_if_due(), other.sync_if_due(),
                                       container.shop.sync_if_due())
        assert sum(report is not None for report in reports) == 1
        assert await other.sync_if_due() is None  # not due again until the interval passes
        schedule = await container.shop.schedule()
        assert schedule is not None and schedule.last_run_at is not None
        assert schedule.next_run_at is not None and schedule.next_run_at > schedule.last_run_at
    finally:
        await other.close()
