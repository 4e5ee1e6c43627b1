"""Source health: a source failing N runs in a row pauses itself and says so (source.failed,
source.disabled); GET /sources/{id} and GET /stats/sources show how each source is doing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import update

from proxyfleet.bootstrap import Container
from proxyfleet.settings import Settings
from proxyfleet.sim.lists import Body, Failing, ListServer
from proxyfleet.storage.tables import ProxyRow
from tests.conftest import Member
from tests.integration.notify.helpers import add_webhook, worker
from tests.integration.notify.receiver import receiving

PLAIN = "10.5.0.1:8080\n10.5.0.2:8080\n10.5.0.3:8080\n"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"source_failure_limit": 3})


@pytest.fixture
async def lists() -> AsyncIterator[ListServer]:
    async with ListServer({"/plain.txt": Body(PLAIN), "/broken": Failing()}) as server:
        yield server


async def _source(client: httpx.AsyncClient, admin: Member, url: str) -> str:
    # Added paused, then resumed: an active source is scraped at once in the background when
    # it is added, and these tests count the runs they make themselves.
    response = await client.post("/sources", headers=admin.headers,
                                 json={"url": url, "parser_name": "plaintext",
                                       "is_active": False})
    assert response.status_code == 201, response.text
    source_id: str = response.json()["id"]
    resumed = await client.patch(f"/sources/{source_id}", headers=admin.headers,
                                 json={"is_active": True})
    assert resumed.status_code == 200, resumed.text
    return source_id


async def test_a_source_failing_too_often_pauses_itself_and_reports_it(
        client: httpx.AsyncClient, admin: Member, container: Container,
        lists: ListServer) -> None:
    source_id = await _source(client, admin, lists.url("/broken"))
    async with receiving() as receiver:
        await add_webhook(client, admin, receiver.url, ["source.*"])
        for _ in range(4):
            failed = await client.post(f"/sources/{source_id}/scrape", headers=admin.headers)
            assert failed.status_code == 502
        await worker(container).run_once()
    names = [r.document["event"] for r in receiver.received]
    assert names.count("source.failed") == 4
    assert names.count("source.disabled") == 1  # paused once, at the third failure
    disabled = receiver.events("source.disabled")[0]["payload"]
    assert disabled["source_id"] == source_id
    assert disabled["consecutive_failures"] == 3
    assert disabled["url"] == lists.url("/broken")

    detail = (await client.get(f"/sources/{source_id}", headers=admin.headers)).json()
    assert detail["is_active"] is False
    health = detail["health"]
    assert health["paused_by_itself"] is True
    assert health["consecutive_failures"] == 4
    assert health["last_error"]
    assert health["last_error_at"] is not None

    resumed = await client.patch(f"/sources/{source_id}", headers=admin.headers,
                                 json={"is_active": True})
    assert resumed.status_code == 200
    health = (await client.get(f"/sources/{source_id}", headers=admin.headers)).json()["health"]
    assert (health["paused_by_itself"], health["consecutive_failures"]) == (False, 0)


async def test_health_counts_the_last_run_and_the_live_share(
        client: httpx.AsyncClient, admin: Member, container: Container,
        lists: ListServer) -> None:
    good = await _source(client, admin, lists.url("/plain.txt"))
    bad = await _source(client, admin, lists.url("/broken"))
    assert (await client.post(f"/sources/{good}/scrape", headers=admin.headers)).is_success
    await client.post(f"/sources/{bad}/scrape", headers=admin.headers)
    async with container.database.engines.writer.begin() as conn:
        await conn.execute(update(ProxyRow).where(ProxyRow.host == "10.5.0.1")
                           .values(status="active"))

    health = (await client.get(f"/sources/{good}", headers=admin.headers)).json()["health"]
    assert health["found_last_run"] == 3
    assert health["new_last_run"] == 3
    assert (health["proxies_total"], health["proxies_active"]) == (3, 1)
    assert health["alive_share"] == pytest.approx(0.3333)
    assert health["consecutive_failures"] == 0
    assert health["paused_by_itself"] is False

    stats = (await client.get("/stats/sources", headers=admin.headers)).json()
    assert (stats["sources_total"], stats["sources_active"], stats["sources_failing"],
            stats["sources_paused_by_themselves"]) == (2, 2, 1, 0)
    by_id = {item["source_id"]: item for item in stats["items"]}
    assert by_id[good]["found_last_run"] == 3
    assert by_id[bad]["found_last_run"] is None
    assert by_id[bad]["consecutive_failures"] == 1
    assert by_id[bad]["alive_share"] is None


async def test_source_stats_are_for_admins(client: httpx.AsyncClient, member: Member) -> None:
    assert (await client.get("/stats/sources", headers=member.headers)).status_code == 403
    missing = await client.get("/sources/00000000-0000-0000-0000-000000000000",
                               headers={"Authorization": "Bearer nope"})
    assert missing.status_code == 401
