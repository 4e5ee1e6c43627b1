"""Sources: CRUD, parser choice and auto-detection, scrapes over real HTTP, the schedule."""

from __future__ import annotations

import asyncio
import inspect
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from proxyfleet import bootstrap
from proxyfleet.api.app import create_app
from proxyfleet.bootstrap import Container
from proxyfleet.core.clock import utcnow
from proxyfleet.settings import Settings
from proxyfleet.sim.lists import Body, CutOff, Failing, Garbage, GeneratedList, ListServer, Slow
from proxyfleet.storage.tables import SourceRow
from tests.conftest import Member
from tests.integration.test_process import server_env

PLAIN = "# fresh list\n10.1.0.1:8080\nsocks5://10.1.0.2:1080\n\nnot a proxy\n10.1.0.3:3128\n"
JSON = json.dumps([{"ip": "10.2.0.1", "port": 8080, "protocol": "http"},
                   {"host": "10.2.0.2", "port": "1080", "type": "socks5"}])
CSV = "ip,port,protocol\n10.3.0.1,8080,http\n10.3.0.2,1080,socks4\n"


@pytest.fixture
async def lists() -> AsyncIterator[ListServer]:
    routes = {
        "/plain.txt": Body(PLAIN), "/list.json": Body(JSON, "application/json"),
        "/list.csv": Body(CSV, "text/csv"), "/broken": Failing(),
        "/garbage": Garbage(), "/html": Body("<html><body>Nothing here</body></html>",
                                             "text/html"),
        "/cut": CutOff(PLAIN * 50, 40), "/slow": Slow(5.0, Body(PLAIN)),
        "/big": GeneratedList(5000),
    }
    async with ListServer(routes) as server:
        yield server


async def _add(client: httpx.AsyncClient, admin: Member, **body: object) -> httpx.Response:
    return await client.post("/sources", json=body, headers=admin.headers)


async def _add_unscraped(client: httpx.AsyncClient, admin: Member, **body: object) -> Any:
    """An active source the schedule alone scrapes: added inactive (POST scrapes an active
    one at once), then switched on."""
    added = (await _add(client, admin, is_active=False, **body)).json()
    switched = await client.patch(f"/sources/{added['id']}", json={"is_active": True},
                                  headers=admin.headers)
    assert switched.status_code == 200, switched.text
    return switched.json()


async def test_auto_detection_picks_the_right_parser(client: httpx.AsyncClient, admin: Member,
                                                     lists: ListServer) -> None:
    for path, parser in [("/plain.txt", "plaintext"), ("/list.json", "json"),
                         ("/list.csv", "csv")]:
        response = await _add(client, admin, url=lists.url(path))
        assert response.status_code == 201, response.text
        assert response.json()["parser_name"] == parser
    for path in ["/garbage", "/html"]:
        response = await _add(client, admin, url=lists.url(path))
        assert response.status_code == 422, path
        assert response.json()["error"]["code"] == "NO_MATCHING_PARSER"
    unfetchable = await _add(client, admin, url=lists.url("/broken"))
    assert unfetchable.status_code == 502
    assert unfetchable.json()["error"]["code"] == "UPSTREAM_FAILED"
    listed = (await client.get("/sources", headers=admin.headers)).json()
    assert listed["total_count"] == 3


async def test_source_validation(client: httpx.AsyncClient, admin: Member,
                                 lists: ListServer, member: Member) -> None:
    url = lists.url("/plain.txt")
    unknown = await _add(client, admin, url=url, parser_name="yaml")
    assert unknown.status_code == 422
    for body in [{"url": "not a url"}, {"url": url, "cron_schedule": "every day"},
                 {"url": url, "cron_schedule": "61 * * * *"},
                 {"url": url, "default_protocol": "ftp"}, {"url": url, "extra": True}]:
        response = await client.post("/sources", json=body, headers=admin.headers)
        assert response.status_code == 422, body
    as_user = await _add(client, member, url=url, parser_name="plaintext")
    assert as_user.status_code == 403
    assert (await client.get("/sources", headers=admin.headers)).json()["total_count"] == 0


async def test_scrape_now_reports_what_it_found(client: httpx.AsyncClient, admin: Member,
                                                lists: ListServer) -> None:
    # Inactive: an active one would be scraped at once in the background as well.
    source = (await _add(client, admin, url=lists.url("/plain.txt"), parser_name="plaintext",
                         default_protocol="http", is_active=False)).json()
    first = await client.post(f"/sources/{source['id']}/scrape", headers=admin.headers)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["proxies_discovered"], body["proxies_new"], body["proxies_updated"]) == (3, 3, 0)
    assert body["source_id"] == source["id"] and body["duration_ms"] >= 0
    again = (await client.post(f"/sources/{source['id']}/scrape", headers=admin.headers)).json()
    assert (again["proxies_new"], again["proxies_updated"]) == (0, 3)

    proxies = (await client.get("/proxies", headers=admin.headers)).json()["items"]
    assert {(p["ip"], p["protocol"]) for p in proxies} == {
        ("10.1.0.1", "http"), ("10.1.0.2", "socks5"), ("10.1.0.3", "http")}
    state = (await client.get(f"/sources/{source['id']}", headers=admin.headers)).json()
    assert state["last_scraped_at"] is not None and state["last_error"] is None


async def test_failed_scrapes_are_recorded_not_fatal(client: httpx.AsyncClient, admin: Member,
                                                     lists: ListServer) -> None:
    for path in ["/broken", "/cut", "/garbage"]:
        source = (await _add(client, admin, url=lists.url(path), parser_name="plaintext",
                             is_active=False)).json()  # scraped by hand only
        response = await client.post(f"/sources/{source['id']}/scrape", headers=admin.headers)
        state = (await client.get(f"/sources/{source['id']}", headers=admin.headers)).json()
        if path == "/garbage":  # fetched fine, nothing usable in it
            assert response.status_code == 200
            assert response.json()["proxies_new"] == 0
            continue
        assert response.status_code == 502, path
        assert response.json()["error"]["code"] == "UPSTREAM_FAILED"
        assert state["consecutive_failures"] == 1
        assert state["last_error"]


async def test_patch_and_delete_keep_the_proxies(client: httpx.AsyncClient, admin: Member,
                                                 lists: ListServer) -> None:
    source = (await _add(client, admin, url=lists.url("/plain.txt"),
                         parser_name="plaintext")).json()
    await client.post(f"/sources/{source['id']}/scrape", headers=admin.headers)
    patched = await client.patch(f"/sources/{source['id']}", headers=admin.headers,
                                 json={"is_active": False, "cron_schedule": "0 * * * *"})
    assert patched.status_code == 200
    assert (patched.json()["is_active"], patched.json()["cron_schedule"]) == (False, "0 * * * *")
    assert patched.json()["parser_name"] == "plaintext"
    bad = await client.patch(f"/sources/{source['id']}", headers=admin.headers,
                             json={"parser_name": "nope"})
    assert bad.status_code == 422
    inactive = (await client.get("/sources", params={"is_active": False},
                                 headers=admin.headers)).json()
    assert inactive["total_count"] == 1

    assert (await client.delete(f"/sources/{source['id']}",
                                headers=admin.headers)).status_code == 204
    assert (await client.delete(f"/sources/{source['id']}",
                                headers=admin.headers)).status_code == 404
    assert (await client.get("/proxies", headers=admin.headers)).json()["total_count"] == 3
    missing = await client.post(f"/sources/{uuid.uuid4()}/scrape", headers=admin.headers)
    assert missing.status_code == 404


async def _make_due(container: Container, source_id: str) -> None:
    async with container.database.engines.writer.begin() as conn:
        await conn.execute(update(SourceRow).where(SourceRow.id == uuid.UUID(source_id))
                           .values(next_run_at=utcnow() - timedelta(seconds=1)))


async def test_the_schedule_scrapes_due_sources_once_and_survives_failures(
        client: httpx.AsyncClient, admin: Member, container: Container,
        lists: ListServer) -> None:
    good = await _add_unscraped(client, admin, url=lists.url("/big"), parser_name="plaintext")
    bad = await _add_unscraped(client, admin, url=lists.url("/broken"), parser_name="plaintext")
    idle = await _add_unscraped(client, admin, url=lists.url("/plain.txt"),
                                parser_name="plaintext")
    for source in (good, bad):
        await _make_due(container, source["id"])

    container.start_consumer()  # with Redis, this process also consumes the task stream

    # Two schedulers at once (two processes, in production): each due run happens once.
    first, second = await asyncio.gather(container.schedule_due(), container.schedule_due())
    assert first + second == 2
    await _until(lambda: lists.hits["/big"] == 1 and lists.hits["/broken"] == 1)
    await _until(lambda: _scraped(client, admin, good["id"]))
    assert lists.hits["/plain.txt"] == 0
    assert (await client.get("/proxies", headers=admin.headers)).json()["total_count"] == 5000

    failed = await _until(lambda: _failed(client, admin, bad["id"]))
    assert failed["next_run_at"] > utcnow().isoformat().replace("+00:00", "Z")
    await _make_due(container, bad["id"])
    assert await container.schedule_due() == 1
    await _until(lambda: lists.hits["/broken"] == 2)
    await asyncio.sleep(0.2)
    assert lists.hits["/big"] == 1
    assert idle["next_run_at"] is not None


async def _scraped(client: httpx.AsyncClient, admin: Member, source_id: str) -> Any:
    state = (await client.get(f"/sources/{source_id}", headers=admin.headers)).json()
    return state if state["last_scraped_at"] else None


async def _failed(client: httpx.AsyncClient, admin: Member, source_id: str) -> Any:
    state = (await client.get(f"/sources/{source_id}", headers=admin.headers)).json()
    return state if state["consecutive_failures"] == 1 else None


async def _until(check: Callable[[], Any], seconds: float = 20.0) -> Any:
    """Wait for work handed to the task queue to show its effect."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        outcome = check()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return outcome
        await asyncio.sleep(0.05)
    raise AssertionError("the queued work did not happen in time")


async def test_a_slow_source_times_out_and_is_recorded(
        admin: Member, container: Container, settings: Settings, lists: ListServer) -> None:
    impatient = bootstrap.build(settings.model_copy(
        update={"source_fetch_timeout_seconds": 0.5}))
    transport = httpx.ASGITransport(app=create_app(impatient))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        source = (await _add(client, admin, url=lists.url("/slow"), parser_name="plaintext",
                             is_active=False)).json()
        response = await client.post(f"/sources/{source['id']}/scrape", headers=admin.headers)
    await impatient.close()
    assert response.status_code == 502
    assert "Timeout" in response.json()["error"]["message"]


async def test_worker_processes_consume_the_shared_queue(
        client: httpx.AsyncClient, admin: Member, container: Container, settings: Settings,
        lists: ListServer, tmp_path: Path) -> None:
    env = server_env(tmp_path, settings.effective_database_url, settings.redis_url)
    env["PROXYFLEET_REDIS_PREFIX"] = settings.redis_prefix
    command = [sys.executable, "-m", "proxyfleet", "worker"]
    if settings.redis_url is None:
        refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60,
                                 check=False)
        assert refused.returncode == 2
        assert "PROXYFLEET_REDIS_URL" in refused.stderr
        return
    source = (await _add(client, admin, url=lists.url("/plain.txt"), parser_name="plaintext",
                         is_active=False)).json()  # so the one scrape is the one sent below
    worker = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        await container.queue.enqueue_scrape(uuid.UUID(source["id"]))  # nobody here consumes
        await _until(lambda: _scraped(client, admin, source["id"]), seconds=30)
    finally:
        worker.terminate()
        worker.wait(timeout=20)
    assert lists.hits["/plain.txt"] == 1
