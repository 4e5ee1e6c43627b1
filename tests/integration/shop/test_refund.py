"""Refunds: within the window, once, and only for an offline proxy (the provider says so, or
our own check through the bought credentials fails twice), with the evidence stored; 20
concurrent refunds of one order pay once."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from proxyfleet.bootstrap import Container, build_shop
from proxyfleet.core.accounts import Currency
from proxyfleet.core.events import EventName
from proxyfleet.shop.errors import RefundNotAllowed
from proxyfleet.shop.rules import order_number
from proxyfleet.sim.upstream import UpstreamSim
from tests.conftest import Member
from tests.integration.shop.conftest import PRICE_CENTS, bought, funded, usd

REFUND = "/api/external-proxy/refund"


async def _bought(client: httpx.AsyncClient, admin: Member,
                  cents: int = 500) -> tuple[Member, dict[str, object]]:
    buyer = await funded(client, admin, cents)
    return buyer, await bought(client, admin, buyer)


async def _evidence(container: Container, order_id: object) -> dict[str, object] | None:
    number = order_number(str(order_id))
    assert number is not None
    async with container.database.reading() as uow:
        return await uow.orders.refund_evidence(number)


async def test_an_online_proxy_is_not_refunded(
        client: httpx.AsyncClient, admin: Member, container: Container) -> None:
    buyer, order = await _bought(client, admin)
    response = await client.post(REFUND, headers=buyer.headers,
                                 json={"order_id": order["order_id"]})
    assert response.status_code == 400
    assert "only offline proxies are refunded" in response.json()["detail"]
    assert await usd(container, buyer) == 500 - PRICE_CENTS


async def test_an_offline_proxy_is_refunded_once_with_its_evidence(
        client: httpx.AsyncClient, admin: Member, container: Container,
        upstream: UpstreamSim) -> None:
    buyer, order = await _bought(client, admin)
    await upstream.set_status(int(order["proxy_id"]), 0)  # type: ignore[call-overload]
    raw = await client.post(REFUND, headers=buyer.headers, json={"order_id": order["order_id"]})
    assert raw.status_code == 200, raw.text
    assert raw.content == (b'{"status":"success","message":"Proxy refunded successfully",'
                           b'"refund_amount":2.00}')
    assert await usd(container, buyer) == 500
    evidence = await _evidence(container, order["order_id"])
    assert evidence is not None
    assert evidence["upstream_status"] == 0
    assert evidence["own_checks"] == [False, False]  # it stopped listening when offline
    again = await client.post(REFUND, headers=buyer.headers, json={"order_id": order["order_id"]})
    assert (again.status_code, again.json()) == (
        409, {"detail": "This order has already been refunded."})
    statement = await container.accounts.statement(uuid.UUID(buyer.id), Currency.USD)
    assert [e.tx_type.value for e in statement.entries][:2] == ["refund", "order"]
    orders = (await client.get("/api/external-proxy/orders", headers=buyer.headers)).json()
    assert orders["orders"][0]["refunded"] is True
    assert orders["orders"][0]["refundable"] is False


async def test_our_own_check_failing_twice_is_evidence_enough(
        client: httpx.AsyncClient, admin: Member, container: Container,
        upstream: UpstreamSim) -> None:
    buyer, order = await _bought(client, admin)
    proxy_id = int(order["proxy_id"])  # type: ignore[call-overload]
    await upstream.set_status(proxy_id, 0)  # stops answering...
    product = upstream.product_by_proxy(proxy_id)
    assert product is not None
    product.status = 1  # ...while the provider still reports it online
    response = await client.post(REFUND, headers=buyer.headers,
                                 json={"order_id": order["order_id"]})
    assert response.status_code == 200, response.text
    evidence = await _evidence(container, order["order_id"])
    assert evidence is not None
    assert (evidence["upstream_status"], evidence["own_checks"]) == (1, [False, False])


async def test_refund_rules_answer_which_rule_failed(
        client: httpx.AsyncClient, admin: Member, container: Container,
        upstream: UpstreamSim) -> None:
    buyer, order = await _bought(client, admin)
    stranger = await funded(client, admin, 0)
    for who, order_id in [(stranger, order["order_id"]), (buyer, "ORD-999999"),
                          (buyer, "nonsense")]:
        response = await client.post(REFUND, headers=who.headers, json={"order_id": order_id})
        assert (response.status_code, response.json()) == (404, {"detail": "Order not found."})
    empty = await client.post(REFUND, headers=buyer.headers, json={})
    assert empty.status_code == 422 and empty.json()["detail"][0]["loc"] == ["body", "order_id"]

    # A shop whose refund window is 60 ms: the order is past it.
    late_settings = container.settings.model_copy(update={"shop_refund_window_minutes": 0.001})
    late = build_shop(late_settings, container.database, container.checking)
    try:
        await asyncio.sleep(0.1)
        await upstream.set_status(int(order["proxy_id"]), 0)  # type: ignore[call-overload]
        with pytest.raises(RefundNotAllowed, match="within 0 minutes of purchase"):
            await late.refund(uuid.UUID(buyer.id), str(order["order_id"]))
    finally:
        await late.close()
    assert await usd(container, buyer) == 500 - PRICE_CENTS


async def test_twenty_concurrent_refunds_of_one_order_pay_once(
        client: httpx.AsyncClient, admin: Member, container: Container,
        upstream: UpstreamSim) -> None:
    buyer, order = await _bought(client, admin)
    await upstream.set_status(int(order["proxy_id"]), 0)  # type: ignore[call-overload]
    answers = await asyncio.gather(*[
        client.post(REFUND, headers=buyer.headers, json={"order_id": order["order_id"]})
        for _ in range(20)])
    assert sorted(a.status_code for a in answers) == [200] + [409] * 19
    assert await usd(container, buyer) == 500
    statement = await container.accounts.statement(uuid.UUID(buyer.id), Currency.USD)
    assert sum(e.tx_type.value == "refund" for e in statement.entries) == 1
    async with container.database.reading() as uow:  # one event, with the one refund
        events = await uow.outbox.events_named([EventName.SHOP_REFUNDED.value])
    assert [e.payload["order_id"] for e in events] == [order["order_id"]]
    stats = (await client.get("/api/external-proxy/stats", headers=admin.headers)).json()
    assert (stats["total_sold"], stats["total_refunded"], stats["revenue"]) == (1, 1, 0.0)
