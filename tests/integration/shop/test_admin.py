"""Admin endpoints: stats (revenue = sales - refunds, to the cent), cleanup (never a sold
product), scheduler status, and the scheduled sync running inside `serve`'s background."""

from __future__ import annotations

import asyncio

import httpx

from proxyfleet.bootstrap import Container, build_shop
from proxyfleet.sim.upstream import UpstreamSim
from tests.conftest import Member
from tests.integration.shop.conftest import funded, listed, synced

BASE = "/api/external-proxy"


async def test_stats_have_the_seeds_fields_and_revenue_to_the_cent(
        client: httpx.AsyncClient, admin: Member, upstream: UpstreamSim) -> None:
    empty = (await client.get(f"{BASE}/stats", headers=admin.headers))
    assert empty.json() == {"total_inventory": 0, "total_sold": 0, "total_refunded": 0,
                            "revenue": 0.0, "countries_available": 0, "last_sync": None}
    report = await synced(client, admin)
    buyer = await funded(client, admin, 1000)
    products = (await listed(client, buyer))["proxies"]
    bought = []
    for product in products[:3]:  # type: ignore[index]
        response = await client.post(f"{BASE}/purchase", headers=buyer.headers,
                                     json={"product_id": product["product_id"]})
        bought.append(response.json())
    await upstream.set_status(bought[0]["proxy_id"], 0)
    assert (await client.post(f"{BASE}/refund", headers=buyer.headers,
                              json={"order_id": bought[0]["order_id"]})).status_code == 200
    raw = await client.get(f"{BASE}/stats", headers=admin.headers)
    assert b'"revenue":4.00' in raw.content
    stats = raw.json()
    for_sale = [p for p in upstream.products if p.status == 1 and not p.sold]
    assert stats == {"total_inventory": len(for_sale), "total_sold": 3, "total_refunded": 1,
                     "revenue": 4.0,
                     "countries_available": len({p.country_code for p in for_sale}),
                     "last_sync": report["sync_time"]}


async def test_cleanup_removes_expired_products_but_never_a_sold_one(
        client: httpx.AsyncClient, admin: Member, container: Container,
        upstream: UpstreamSim) -> None:
    await synced(client, admin)
    fresh = (await client.post(f"{BASE}/cleanup", headers=admin.headers)).json()
    assert fresh == {"status": "success", "removed_count": 0,
                     "message": "Removed 0 expired proxies from inventory"}
    buyer = await funded(client, admin, 500)
    listing = await listed(client, buyer)
    product = listing["proxies"][0]  # type: ignore[index]
    assert (await client.post(f"{BASE}/purchase", headers=buyer.headers,
                              json={"product_id": product["product_id"]})).status_code == 200
    # A shop whose interval is 60 ms: two intervals without a sync make every product stale.
    quick = build_shop(container.settings.model_copy(
        update={"shop_sync_interval_minutes": 0.001}), container.database, container.checking)
    try:
        await asyncio.sleep(0.2)
        removed = await quick.cleanup()
    finally:
        await quick.close()
    assert removed == listing["total"] - 1
    assert (await listed(client, buyer))["total"] == 0
    orders = (await client.get(f"{BASE}/orders", headers=buyer.headers)).json()["orders"]
    assert [o["proxy_id"] for o in orders] == [product["proxy_id"]]  # its order stays
    # A later sync does not remove it either.
    await synced(client, admin)
    assert len((await client.get(f"{BASE}/orders", headers=buyer.headers)).json()["orders"]) == 1


async def test_scheduler_status_and_the_background_sync(
        client: httpx.AsyncClient, admin: Member, container: Container,
        upstream: UpstreamSim) -> None:
    before = (await client.get(f"{BASE}/scheduler-status", headers=admin.headers)).json()
    assert before["running"] is False and before["last_sync"] is None
    assert (before["provider"], before["interval_minutes"]) == ("socks-api", 5.0)
    assert before["next_run"] is not None  # due at start
    container.start_background()
    for _ in range(200):
        status = (await client.get(f"{BASE}/scheduler-status", headers=admin.headers)).json()
        if status["last_sync"] is not None:
            break
        await asyncio.sleep(0.05)
    assert status["running"] is True
    assert status["last_result"]["added"] == sum(p.status == 1 for p in upstream.products)
    assert status["next_run"] > status["last_sync"]
    assert status["last_error"] is None


async def test_orders_export_as_csv_and_txt(client: httpx.AsyncClient, admin: Member) -> None:
    await synced(client, admin)
    buyer = await funded(client, admin, 500)
    product = (await listed(client, buyer))["proxies"][0]  # type: ignore[index]
    order = (await client.post(f"{BASE}/purchase", headers=buyer.headers,
                               json={"product_id": product["product_id"]})).json()
    creds = order["credentials"]
    txt = await client.get(f"{BASE}/orders/export", headers=buyer.headers,
                           params={"format": "txt"})
    assert txt.text == f"{creds['ip']}:{creds['port']}:{creds['login']}:{creds['password']}\n"
    csv = await client.get(f"{BASE}/orders/export", headers=buyer.headers)
    assert csv.headers["content-type"].startswith("text/csv")
    header, row = csv.text.splitlines()
    assert header.startswith("order_id,proxy_id,ip,port,login,password")
    assert row.startswith(f"{order['order_id']},{order['proxy_id']},{creds['ip']},")
    bad = await client.get(f"{BASE}/orders/export", headers=buyer.headers,
                           params={"format": "xml"})
    assert bad.status_code == 422
