"""GET /metrics: Prometheus text for an admin key or the metrics token, never open; counters
of leases, scrapes and deliveries, gauges read from the database; one sum across the
processes of `serve --workers`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from proxyfleet.bootstrap import Container
from proxyfleet.core.events import EventName
from proxyfleet.settings import Settings
from proxyfleet.sim.lists import Body, Failing, ListServer
from tests.conftest import Member
from tests.integration.notify.helpers import add_webhook, emit
from tests.integration.notify.processes import notify_env, serve
from tests.integration.notify.receiver import receiving
from tests.integration.pool.seeding import addresses, funded, seed

TOKEN = "metrics-token-for-tests"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"metrics_token": SecretStr(TOKEN)})


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_metrics_need_an_admin_key_or_the_token(client: httpx.AsyncClient,
                                                      admin: Member, member: Member) -> None:
    assert (await client.get("/metrics")).status_code == 401
    assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})
            ).status_code == 401
    refused = await client.get("/metrics", headers=member.headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "FORBIDDEN"
    for headers in (admin.headers, {"Authorization": f"Bearer {TOKEN}"}):
        response = await client.get("/metrics", headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert "proxyfleet_proxies" in response.text


async def test_counters_and_gauges(client: httpx.AsyncClient, admin: Member,
                                   container: Container) -> None:
    await seed(container, addresses(3), status="active", score=0.5)
    await seed(container, addresses(2, net=12))
    user = await funded(client, admin, 5)
    for _ in range(2):
        assert (await client.post("/proxies/acquire", headers=user.headers)).status_code == 200
    async with ListServer({"/ok": Body("10.9.0.1:80\n"), "/bad": Failing()}) as lists:
        good = (await client.post("/sources", headers=admin.headers, json={
            "url": lists.url("/ok"), "parser_name": "plaintext",
            "is_active": False})).json()["id"]  # no scrape at once: this test counts its own
        bad = (await client.post("/sources", headers=admin.headers, json={
            "url": lists.url("/bad"), "parser_name": "plaintext", "is_active": False})).json()["id"]
        await client.post(f"/sources/{good}/scrape", headers=admin.headers)
        await client.post(f"/sources/{bad}/scrape", headers=admin.headers)
    async with receiving() as broken, receiving() as working:
        broken.status = 500
        bad_hook = (await add_webhook(client, admin, broken.url, ["credits.*"]))["id"]
        good_hook = (await add_webhook(client, admin, working.url, ["credits.*"]))["id"]
        await emit(container, EventName.CREDITS_LOW, {"user_id": user.id})
        await container.delivery.run_once()
        await emit(container, EventName.CREDITS_LOW, {"user_id": user.id})
        await container.delivery.fan_out()

    text = (await client.get("/metrics", headers=admin.headers)).text
    found = samples(text)
    assert found[("proxyfleet_leases_granted_total", ())] == 2
    assert found[("proxyfleet_leases_live", ())] == 2
    assert found[("proxyfleet_proxies", (("protocol", "http"), ("status", "active")))] == 3
    assert found[("proxyfleet_proxies", (("protocol", "http"), ("status", "unchecked")))] == 3
    assert found[("proxyfleet_scrapes_total", (("outcome", "success"), ("source_id", good)))] == 1
    assert found[("proxyfleet_scrapes_total", (("outcome", "failure"), ("source_id", bad)))] == 1
    delivered = "proxyfleet_event_deliveries_total"
    assert found[(delivered, (("notifier", "webhook"), ("notifier_id", good_hook),
                              ("outcome", "success")))] == 1
    assert found[(delivered, (("notifier", "webhook"), ("notifier_id", bad_hook),
                              ("outcome", "failure")))] == 1
    assert found[("proxyfleet_event_deliveries_waiting", ())] == 3


@pytest.mark.slow
async def test_workers_answer_the_sum_of_all_processes(
        client: httpx.AsyncClient, admin: Member, container: Container, tmp_path: Path,
        database_url: str, redis_url: str | None) -> None:
    await seed(container, addresses(30), status="active", score=0.5)
    users = [await funded(client, admin, 10) for _ in range(3)]
    env = notify_env(tmp_path, database_url, redis_url, PROXYFLEET_METRICS_TOKEN=TOKEN)
    # No kept-alive connections: each request is a new connection, which the kernel hands
    # to either worker.
    fresh = httpx.Limits(max_keepalive_connections=0)
    async with serve(env, "--workers", "2") as server, \
            httpx.AsyncClient(base_url=server.base_url, timeout=30, limits=fresh) as http:
        granted = await asyncio.gather(*(
            http.post("/proxies/acquire", headers=users[i % 3].headers) for i in range(20)))
        assert [r.status_code for r in granted] == [200] * 20
        # Whichever worker answers, it reports the leases both granted.
        for _ in range(8):
            metrics = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            assert samples(metrics.text)[("proxyfleet_leases_granted_total", ())] == 20
