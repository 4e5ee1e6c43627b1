"""The shop's events on the one event bus: `shop.sync_failed` for a failed sync and
`shop.refunded` for a refund, each committed with its change and delivered to the notifiers
subscribed to `shop.*`."""

from __future__ import annotations

import httpx

from proxyfleet.bootstrap import Container
from proxyfleet.core.events import Event, EventName
from proxyfleet.sim.upstream import UpstreamSim
from tests.conftest import Member
from tests.integration.notify.helpers import add_webhook, worker
from tests.integration.notify.receiver import receiving
from tests.integration.shop.conftest import bought, funded, synced


async def shop_events(container: Container) -> list[Event]:
    async with container.database.reading() as uow:
        return await uow.outbox.events_named([EventName.SHOP_SYNC_FAILED.value,
                                              EventName.SHOP_REFUNDED.value])


async def test_a_notifier_subscribed_to_shop_gets_failed_syncs_and_refunds(
        client: httpx.AsyncClient, admin: Member, container: Container,
        upstream: UpstreamSim) -> None:
    buyer = await funded(client, admin, 500)
    order = await bought(client, admin, buyer)
    async with receiving() as receiver:
        await add_webhook(client, admin, receiver.url, ["shop.*"])
        async with httpx.AsyncClient() as control:
            await control.post(f"{upstream.control_url}/fail-next",
                               json={"kind": "server_error"})
        failed = await client.post("/api/external-proxy/sync", headers=admin.headers,
                                   json={"country_code": "US"})
        assert failed.status_code == 502
        assert await synced(client, admin)  # a sync that works emits nothing
        await upstream.set_status(int(order["proxy_id"]), 0)
        refund = await client.post("/api/external-proxy/refund", headers=buyer.headers,
                                   json={"order_id": order["order_id"]})
        assert refund.status_code == 200, refund.text
        assert await worker(container).run_once() == 2
    sync_failed, = receiver.events("shop.sync_failed")
    assert set(sync_failed["payload"]) == {"provider", "country_code", "error"}
    assert sync_failed["payload"]["country_code"] == "US"
    assert sync_failed["payload"]["provider"] == container.shop.provider_name
    assert "503" in sync_failed["payload"]["error"]
    refunded, = receiver.events("shop.refunded")
    assert refunded["payload"] == {
        "order_id": order["order_id"], "user_id": buyer.id, "amount": "2.00",
        "amount_cents": 200, "currency": "usd", "proxy_id": str(order["proxy_id"]),
        "refunded_at": refunded["payload"]["refunded_at"]}
    assert refunded["payload"]["refunded_at"].endswith("Z")
    assert [e.name for e in await shop_events(container)] == [EventName.SHOP_SYNC_FAILED,
                                                               EventName.SHOP_REFUNDED]


async def test_a_scheduled_sync_that_fails_writes_one_event_and_a_refused_refund_none(
        client: httpx.AsyncClient, admin: Member, container: Container,
        upstream: UpstreamSim) -> None:
    async with httpx.AsyncClient() as control:
        await control.post(f"{upstream.control_url}/fail-next", json={"kind": "server_error"})
    assert await container.shop.sync_if_due() is None  # due at start; it failed
    assert await container.shop.sync_if_due() is None  # not due again this interval
    [failed] = await shop_events(container)
    assert failed.name is EventName.SHOP_SYNC_FAILED
    assert failed.payload["country_code"] is None
    buyer = await funded(client, admin, 500)
    order = await bought(client, admin, buyer)
    online = await client.post("/api/external-proxy/refund", headers=buyer.headers,
                               json={"order_id": order["order_id"]})
    assert online.status_code == 400, online.text  # still online: no refund, no event
    assert await shop_events(container) == [failed]
