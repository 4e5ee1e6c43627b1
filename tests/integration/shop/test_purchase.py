"""Purchases: the seed's reply, money moved as reserve / buy upstream / commit, 402 / 404 / 409,
idempotency, upstream failures that charge nothing, and the races of the issue. The bought
proxy is a real SOCKS5 proxy on loopback, checked by proxyfleet and handed to nobody else."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from proxyfleet.bootstrap import Container
from proxyfleet.core.accounts import Currency
from proxyfleet.core.proxies import ProxyAddress, ProxyProtocol
from proxyfleet.sim.upstream import UpstreamSim
from tests.conftest import Member
from tests.integration.shop.conftest import PRICE_CENTS, funded, listed, synced, usd
from tests.integration.storage.at_rest import every_value, sqlite_files

PURCHASE = "/api/external-proxy/purchase"


async def _products(client: httpx.AsyncClient, admin: Member, member: Member) -> list[int]:
    await synced(client, admin)
    return [p["product_id"] for p in (await listed(client, member))["proxies"]]  # type: ignore[union-attr]


async def _orders(client: httpx.AsyncClient, member: Member) -> list[dict[str, object]]:
    response = await client.get("/api/external-proxy/orders", headers=member.headers)
    assert response.status_code == 200, response.text
    orders: list[dict[str, object]] = response.json()["orders"]
    return orders


async def test_a_purchase_answers_as_the_seed_and_its_proxy_works(
        client: httpx.AsyncClient, admin: Member, container: Container,
        upstream: UpstreamSim) -> None:
    buyer = await funded(client, admin, 500)
    product_id = (await _products(client, admin, buyer))[0]
    raw = await client.post(PURCHASE, headers=buyer.headers, json={"product_id": product_id})
    assert raw.status_code == 200, raw.text
    assert b'"price":2.00' in raw.content
    body = raw.json()
    assert set(body) == {"order_id", "proxy_id", "credentials", "price", "expires_at",
                         "refundable"}
    assert set(body["credentials"]) == {"ip", "port", "login", "password", "country", "ISP"}
    assert str(body["order_id"]).startswith("ORD-") and body["refundable"] is True
    assert isinstance(body["credentials"]["port"], str) and body["expires_at"].endswith("Z")
    assert await usd(container, buyer) == 500 - PRICE_CENTS
    sold = upstream.product_by_proxy(body["proxy_id"])
    assert sold is not None and sold.sold
    assert body["credentials"]["login"] != "" and body["credentials"]["ISP"] == sold.isp

    creds = body["credentials"]
    address = ProxyAddress(creds["ip"], int(creds["port"]), ProxyProtocol.SOCKS5,
                           creds["login"], creds["password"])
    alive, _ = await container.checking.probe(address, 5.0)
    assert alive is True  # a real SOCKS5 proxy with its login
    wrong = ProxyAddress(address.host, address.port, address.protocol, address.username, "no")
    assert (await container.checking.probe(wrong, 5.0))[0] is False

    orders = await _orders(client, buyer)
    assert [o["order_id"] for o in orders] == [body["order_id"]]
    assert orders[0]["credentials"] == creds
    assert orders[0]["proxy_status"] == "unchecked"  # the checker's rounds will check it
    assert await _orders(client, await funded(client, admin, 0)) == []
    # The catalogue no longer offers it.
    listing = await listed(client, buyer)
    assert product_id not in [p["product_id"] for p in listing["proxies"]]  # type: ignore[union-attr]


async def test_a_sold_proxy_is_never_handed_out_from_the_pool(
        client: httpx.AsyncClient, admin: Member, container: Container) -> None:
    buyer = await funded(client, admin, 500)
    product_id = (await _products(client, admin, buyer))[0]
    assert (await client.post(PURCHASE, headers=buyer.headers,
                              json={"product_id": product_id})).status_code == 200
    await container.accounts.grant(await container.accounts.authenticate(admin.key),
                                   uuid.UUID(buyer.id), Currency.CREDITS, 10, None)
    # The checker checks it like any proxy (the buyer's status view, a refund's evidence)...
    summary = await container.checking.check(await container.checking.claim_due())
    assert (summary.checked, summary.alive) == (1, 1)
    orders = await _orders(client, buyer)
    assert orders[0]["proxy_status"] == "active"
    # ...but the shared pool neither shows nor leases it.
    pool = await client.get("/proxies", headers=admin.headers)
    assert pool.json()["total_count"] == 0
    leased = await client.post("/proxies/acquire", headers=buyer.headers, json={})
    assert leased.status_code == 404, leased.text


async def test_a_short_balance_is_402_and_charges_nothing(
        client: httpx.AsyncClient, admin: Member, container: Container) -> None:
    buyer = await funded(client, admin, PRICE_CENTS - 1)
    product_id = (await _products(client, admin, buyer))[0]
    response = await client.post(PURCHASE, headers=buyer.headers, json={"product_id": product_id})
    assert response.status_code == 402
    assert response.json()["detail"] == (
        "Insufficient balance: this proxy costs $2.00, your balance is $1.99.")
    assert await usd(container, buyer) == PRICE_CENTS - 1
    assert await _orders(client, buyer) == []


async def test_unknown_sold_and_malformed(client: httpx.AsyncClient, admin: Member) -> None:
    first = await funded(client, admin, 500)
    second = await funded(client, admin, 500)
    product_id = (await _products(client, admin, first))[0]
    assert (await client.post(PURCHASE, headers=first.headers,
                              json={"product_id": product_id})).status_code == 200
    again = await client.post(PURCHASE, headers=second.headers, json={"product_id": product_id})
    assert again.status_code == 409
    assert again.json() == {"detail": "This product has already been sold."}
    missing = await client.post(PURCHASE, headers=second.headers, json={"product_id": 999999})
    assert (missing.status_code, missing.json()) == (404, {"detail": "Product not found."})
    bad = await client.post(PURCHASE, headers=second.headers, json={"product_id": "x"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "product_id"]
    assert (await client.post(PURCHASE, headers=second.headers, content=b"{")).status_code == 422


async def test_an_idempotency_key_returns_the_first_order(
        client: httpx.AsyncClient, admin: Member, container: Container) -> None:
    buyer = await funded(client, admin, 1000)
    products = await _products(client, admin, buyer)
    headers = {**buyer.headers, "Idempotency-Key": "tap-1"}
    answers = await asyncio.gather(*[
        client.post(PURCHASE, headers=headers, json={"product_id": products[0]})
        for _ in range(5)])
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["order_id"] for a in answers}) == 1
    later = await client.post(PURCHASE, headers=headers, json={"product_id": products[0]})
    assert later.json()["order_id"] == answers[0].json()["order_id"]
    assert await usd(container, buyer) == 1000 - PRICE_CENTS
    other_key = {**buyer.headers, "Idempotency-Key": "tap-2"}
    assert (await client.post(PURCHASE, headers=other_key,
                              json={"product_id": products[1]})).status_code == 200
    assert await usd(container, buyer) == 1000 - 2 * PRICE_CENTS


async def test_an_upstream_failure_leaves_no_charge_and_no_order(
        client: httpx.AsyncClient, admin: Member, container: Container,
        upstream: UpstreamSim) -> None:
    buyer = await funded(client, admin, 500)
    products = await _products(client, admin, buyer)
    async with httpx.AsyncClient() as control:
        for kind, status, words in [("server_error", 502, "failed"),
                                    ("insufficient_balance", 502, "Insufficient balance"),
                                    ("timeout", 502, "in time"),
                                    ("sold", 409, "no longer available")]:
            await control.post(f"{upstream.control_url}/fail-next-purchase", json={"kind": kind})
            response = await client.post(PURCHASE, headers=buyer.headers,
                                         json={"product_id": products[0]})
            assert response.status_code == status, (kind, response.text)
            assert words in response.json()["detail"], kind
            assert "You were not charged." in response.json()["detail"]
            assert await usd(container, buyer) == 500
            assert await _orders(client, buyer) == []
    # The product is still for sale, and buying it now works.
    assert (await client.post(PURCHASE, headers=buyer.headers,
                              json={"product_id": products[0]})).status_code == 200


async def test_a_product_gone_offline_since_the_sync_is_not_sold(
        client: httpx.AsyncClient, admin: Member, container: Container,
        upstream: UpstreamSim) -> None:
    buyer = await funded(client, admin, 500)
    await synced(client, admin)
    product = (await listed(client, buyer))["proxies"][0]  # type: ignore[index]
    await upstream.set_status(product["proxy_id"], 0)
    response = await client.post(PURCHASE, headers=buyer.headers,
                                 json={"product_id": product["product_id"]})
    assert response.status_code == 409
    assert "offline" in response.json()["detail"]
    assert await usd(container, buyer) == 500


async def test_fifty_buyers_racing_for_ten_products(
        client: httpx.AsyncClient, admin: Member, container: Container) -> None:
    buyers = [await funded(client, admin, 500) for _ in range(50)]
    products = (await _products(client, admin, buyers[0]))[:10]
    answers = await asyncio.gather(*[
        client.post(PURCHASE, headers=buyer.headers,
                    json={"product_id": products[n % 10]}) for n, buyer in enumerate(buyers)])
    won = [a for a in answers if a.status_code == 200]
    assert len(won) == 10
    assert {a.status_code for a in answers} == {200, 409}
    assert len({a.json()["proxy_id"] for a in won}) == 10
    balances = [await usd(container, buyer) for buyer in buyers]
    assert min(balances) >= 0
    assert sum(500 - b for b in balances) == 10 * PRICE_CENTS
    stats = (await client.get("/api/external-proxy/stats", headers=admin.headers)).json()
    assert stats["total_sold"] == 10 and stats["revenue"] == 20.0


async def test_one_buyer_racing_twenty_purchases_with_money_for_three(
        client: httpx.AsyncClient, admin: Member, container: Container) -> None:
    buyer = await funded(client, admin, 3 * PRICE_CENTS)
    products = (await _products(client, admin, buyer))[:20]
    answers = await asyncio.gather(*[
        client.post(PURCHASE, headers=buyer.headers, json={"product_id": product_id})
        for product_id in products])
    assert sorted(a.status_code for a in answers) == [200] * 3 + [402] * 17
    assert await usd(container, buyer) == 0
    assert len(await _orders(client, buyer)) == 3


async def test_no_shop_secret_is_stored_in_plain_text(
        client: httpx.AsyncClient, admin: Member, container: Container,
        upstream: UpstreamSim) -> None:
    """The provider's token and a bought proxy's password are sealed at rest, as every
    secret is (storage/sealing.py): in no column, and in no SQLite file."""
    buyer = await funded(client, admin, 500)
    product_id = (await _products(client, admin, buyer))[0]
    bought = await client.post(PURCHASE, headers=buyer.headers, json={"product_id": product_id})
    assert bought.status_code == 200, bought.text
    secrets = [upstream.token, bought.json()["credentials"]["password"]]
    assert all(len(secret) >= 8 for secret in secrets)
    values = await every_value(container)
    for secret in secrets:
        assert not any(secret in value for value in values), secret
    for path in sqlite_files(container):
        content = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in content, path
    # Still the buyer's to read.
    orders = await _orders(client, buyer)
    assert orders[0]["credentials"]["password"] == secrets[1]  # type: ignore[index]
