"""A bought proxy belongs to its buyer: the buyer goes out through it on the gateway
(`<name>-order-ORD-N`), anyone else naming the order is refused, and no other hand-out (the
gateway's rotation for anyone, `GET /api/proxies/next`, the rotation service with private
proxies) ever picks it. An endpoint already in the inventory becomes the buyer's row."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from proxyfleet.bootstrap import Container
from proxyfleet.core.clock import utcnow
from proxyfleet.core.proxies import ProxyAddress, ProxyOrigin, ProxyProtocol
from proxyfleet.core.rotation import Strategy, Want
from proxyfleet.shop.rules import order_number
from proxyfleet.sim.farm import Behaviour, Farm, FarmSpec
from proxyfleet.sim.upstream import UpstreamSim
from proxyfleet.storage.proxies import address_of
from proxyfleet.storage.tables import ProxyRow
from tests.conftest import Member
from tests.integration.rotating.clients import curl
from tests.integration.rotating.conftest import running_gateway, seed_farm
from tests.integration.rotating.target import Target, target_on
from tests.integration.shop.conftest import bought, funded, listed, synced

POOL = {(ProxyProtocol.HTTP, Behaviour.ELITE): 2, (ProxyProtocol.SOCKS5, Behaviour.ELITE): 1}


@pytest.fixture
async def farm() -> AsyncIterator[Farm]:
    async with Farm(FarmSpec(counts=POOL)) as running:
        yield running


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    async with target_on("127.0.0.1") as running:
        yield running


async def _pool(container: Container, farm: Farm) -> set[uuid.UUID]:
    """The farm as the shared pool, checked healthy (and not due again during the test)."""
    ids = await seed_farm(container, farm, next_check_at=utcnow() + timedelta(days=1))
    return set(ids.values())


async def _inventory_id(container: Container, order_id: object) -> uuid.UUID:
    number = order_number(str(order_id))
    assert number is not None
    async with container.database.reading() as uow:
        order = await uow.orders.get(number)
    assert order is not None and order.inventory_id is not None
    return order.inventory_id


async def _checked(container: Container) -> None:
    """One round of proxyfleet's own checker (only the bought proxy is due), then the
    rotation's snapshot reloaded."""
    summary = await container.checking.check(await container.checking.claim_due())
    assert (summary.checked, summary.alive) == (1, 1)
    await container.rotation.refresh()


async def test_the_buyer_goes_out_through_the_bought_proxy_and_nobody_else_can(
        client: httpx.AsyncClient, admin: Member, container: Container, farm: Farm,
        target: Target, upstream: UpstreamSim) -> None:
    pool = await _pool(container, farm)
    buyer, other = await funded(client, admin, 500), await funded(client, admin, 500)
    order = await bought(client, admin, buyer)
    exit_id = await _inventory_id(container, order["order_id"])
    await _checked(container)
    mine = f"buyer-order-{order['order_id']}"
    async with running_gateway(container, gateway_exit_header=True) as gateway:
        for username in (mine, f"buyer-order-{str(order['order_id'])[4:]}"):
            answer = await curl("forward", gateway.address, username, buyer.key, target.url())
            assert answer.status == 200, answer
            assert answer.headers["x-proxyfleet-exit"] == str(exit_id)
        assert (await curl("socks5", gateway.address, mine, buyer.key, target.url())).status \
            == 200
        # Another user naming the order is refused, in the gateway's shape.
        refused = await curl("forward", gateway.address, f"other-order-{order['order_id']}",
                             other.key, target.url())
        assert refused.status == 403
        assert "error=http_request_denied" in refused.headers["proxy-status"]
        assert order["order_id"] in refused.headers["proxy-status"]
        assert (await curl("socks5", gateway.address, f"other-order-{order['order_id']}",
                           other.key, target.url())).exit_code != 0
        # Rotation for everyone else, the buyer's own plain requests included, never picks it.
        for key in (buyer.key, other.key):
            for _ in range(3 * len(pool)):
                answer = await curl("forward", gateway.address, "user", key, target.url())
                assert answer.status == 200, answer
                assert uuid.UUID(answer.headers["x-proxyfleet-exit"]) in pool
        # The buyer's requests go through the bought proxy alone: offline, it is a 502,
        # never a pool exit.
        await upstream.set_status(int(order["proxy_id"]), 0)  # type: ignore[call-overload]
        offline = await curl("forward", gateway.address, mine, buyer.key, target.url())
        assert offline.status == 502 and "x-proxyfleet-exit" not in offline.headers
        # Refunded, it is nobody's exit any more.
        refund = await client.post("/api/external-proxy/refund", headers=buyer.headers,
                                   json={"order_id": order["order_id"]})
        assert refund.status_code == 200, refund.text
        assert (await curl("forward", gateway.address, mine, buyer.key,
                           target.url())).status == 403


async def test_no_other_hand_out_picks_a_bought_proxy(
        client: httpx.AsyncClient, admin: Member, container: Container, farm: Farm) -> None:
    pool = await _pool(container, farm)
    buyer = await funded(client, admin, 500)
    exit_id = await _inventory_id(container, (await bought(client, admin, buyer))["order_id"])
    await _checked(container)
    for strategy in Strategy:
        for _ in range(2 * len(pool)):
            response = await client.get("/api/proxies/next", headers=admin.headers,
                                        params={"strategy": strategy.value, "key": "k"})
            assert response.status_code == 200, response.text
            assert uuid.UUID(response.json()["proxy_id"]) in pool
            pick = await container.rotation.pick(Want(strategy=strategy, include_private=True))
            assert pick is not None and pick.proxy_id in pool
    # Named, it goes to its owner only.
    named = Want(among=frozenset({exit_id}), include_private=True)
    assert await container.rotation.pick(named) is None
    own = await container.rotation.pick(Want(among=frozenset({exit_id}),
                                             owner=uuid.UUID(buyer.id)))
    assert own is not None and own.proxy_id == exit_id


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


async def test_a_bought_endpoint_already_in_the_inventory_becomes_the_buyers_row(
        client: httpx.AsyncClient, admin: Member, container: Container,
        upstream: UpstreamSim) -> None:
    buyer = await funded(client, admin, 500)
    await synced(client, admin)
    product = (await listed(client, buyer))["proxies"][0]  # type: ignore[index]
    sim_product = upstream.product_by_proxy(int(product["proxy_id"]))
    assert sim_product is not None
    # The endpoint the provider will sell is in the pool already (added by hand).
    port = _free_port(sim_product.ip)
    upstream.sell_on(sim_product.proxy_id, port)
    await container.inventory.add([ProxyAddress(sim_product.ip, port, ProxyProtocol.SOCKS5)],
                                  ProxyOrigin.MANUAL)
    async with container.database.engines.writer.begin() as conn:
        await conn.execute(update(ProxyRow).values(status="active", last_checked_at=utcnow(),
                                                   health_window="1" * 10))
        known = (await conn.execute(select(ProxyRow.id))).scalar_one()
    await container.rotation.refresh()
    assert (await client.get("/proxies", headers=admin.headers)).json()["total_count"] == 1

    order = await bought(client, admin, buyer, product)
    creds = order["credentials"]
    assert (creds["ip"], creds["port"]) == (sim_product.ip, str(port))  # type: ignore[index]
    # The order is linked to that row, now the buyer's: the bought login, out of the pool.
    assert await _inventory_id(container, order["order_id"]) == known
    async with container.database.engines.writer.connect() as conn:
        rows = (await conn.execute(select(ProxyRow.__table__))).all()
    assert [row.id for row in rows] == [known]
    assert (rows[0].origin, rows[0].shared, rows[0].status) == ("provider", False, "unchecked")
    assert address_of(rows[0], container.database.box).password == \
        creds["password"]  # type: ignore[index]
    assert (await client.get("/proxies", headers=admin.headers)).json()["total_count"] == 0
    assert await container.rotation.pick(Want(include_private=True)) is None
    # A list naming the endpoint again, with some login, changes nothing of the buyer's.
    await container.inventory.add([ProxyAddress(sim_product.ip, port, ProxyProtocol.SOCKS5,
                                                "someone", "else")], ProxyOrigin.MANUAL)
    async with container.database.engines.writer.connect() as conn:
        again = (await conn.execute(select(ProxyRow.__table__))).one()
    assert (again.origin, again.shared) == ("provider", False)
    assert address_of(again, container.database.box) == address_of(rows[0],
                                                                   container.database.box)
    # The checker checks it with the buyer's login, and the buyer sees its status.
    await _checked(container)
    orders = (await client.get("/api/external-proxy/orders", headers=buyer.headers)).json()
    assert orders["orders"][0]["proxy_status"] == "active"
    assert await container.rotation.pick(Want(include_private=True)) is None
    own = await container.rotation.pick(Want(among=frozenset({known}),
                                             owner=uuid.UUID(buyer.id)))
    assert own is not None and own.password == creds["password"]  # type: ignore[index]
