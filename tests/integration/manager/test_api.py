"""Seed 000's endpoints as a client written from the seed uses them, and every error type."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from proxyfleet.bootstrap import Container
from proxyfleet.core.clock import utcnow
from proxyfleet.core.rotation import RotationSettings, Strategy, hour_of
from proxyfleet.pool.rotation import RotationService
from proxyfleet.storage.tables import AccountSessionRow, ProxyRow
from tests.conftest import Member, register
from tests.integration.pool.seeding import set_fields

SEED_FIELDS = {"id", "ip", "port", "username", "password", "is_active", "total_requests",
               "failed_requests", "requests_this_hour", "error_count", "created_at",
               "updated_at"}


def _proxy(ip: str = "192.168.1.1", port: int = 8080, session: str = "session_cookie",
           **extra: object) -> dict[str, object]:
    return {"ip": ip, "port": port, "username": "user", "password": "pass",
            "session": session, **extra}


async def _create(client: httpx.AsyncClient, admin: Member, **fields: object) -> dict[str, object]:
    response = await client.post("/api/proxies", json=_proxy(**fields),  # type: ignore[arg-type]
                                  headers=admin.headers)
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def test_create_list_disable_delete_as_the_seed_documents(
        client: httpx.AsyncClient, container: Container, admin: Member) -> None:
    created = await _create(client, admin)
    assert created.keys() >= SEED_FIELDS
    assert created["id"] == 1 and isinstance(created["id"], int)
    assert (created["ip"], created["port"], created["username"], created["password"]) == \
        ("192.168.1.1", 8080, "user", "pass")
    assert created["is_active"] is True and created["shared"] is False
    assert [created[k] for k in ("total_requests", "failed_requests", "requests_this_hour",
                                 "error_count")] == [0, 0, 0, 0]
    assert str(created["created_at"]).endswith("Z")
    [session] = created["sessions"]  # type: ignore[misc]
    assert session["session"] == "session_cookie" and session["status"] == "active"
    assert set(session) == {"id", "session", "status"}

    listed = (await client.get("/api/proxies", headers=admin.headers)).json()
    assert listed == [created]

    patched = await client.patch("/api/proxies/1/status", json={"status": "disabled"},
                                 headers=admin.headers)
    assert patched.status_code == 200, patched.text
    assert patched.json()["is_active"] is False and "sessions" not in patched.json()
    assert patched.json().keys() >= SEED_FIELDS

    deleted = await client.delete("/api/proxies/1", headers=admin.headers)
    assert deleted.status_code == 204 and deleted.content == b""
    assert (await client.get("/api/proxies", headers=admin.headers)).json() == []
    async with container.database.engines.reader.connect() as conn:
        assert (await conn.execute(select(AccountSessionRow.id))).first() is None


async def test_ids_are_integers_here_and_uuids_on_the_pool_surface(
        client: httpx.AsyncClient, admin: Member) -> None:
    first = await _create(client, admin)
    second = await _create(client, admin, ip="192.168.1.2", session="other", protocol="socks5")
    assert (first["id"], second["id"]) == (1, 2)
    assert second["protocol"] == "socks5"
    pool = (await client.get("/proxies", headers=admin.headers)).json()["items"]
    assert {p["ip"] for p in pool} == {"192.168.1.1", "192.168.1.2"}
    assert all(len(p["id"]) == 36 for p in pool)


async def test_private_by_default_and_hidden_from_users_of_the_pool(
        client: httpx.AsyncClient, container: Container, admin: Member) -> None:
    await _create(client, admin)
    await _create(client, admin, ip="192.168.1.2", session="s2", shared=True)
    await set_fields(container, "192.168.1.1", status="active", score=0.9)
    await set_fields(container, "192.168.1.2", status="active", score=0.5)
    member = await register(client)
    seen = (await client.get("/proxies", headers=member.headers)).json()["items"]
    assert [p["ip"] for p in seen] == ["192.168.1.2"]
    shared = await client.patch("/api/proxies/1/status", json={"shared": True},
                                headers=admin.headers)
    assert shared.json()["shared"] is True
    seen = (await client.get("/proxies", headers=member.headers)).json()["items"]
    assert {p["ip"] for p in seen} == {"192.168.1.1", "192.168.1.2"}


async def test_validation_error_names_the_fields(client: httpx.AsyncClient,
                                                 admin: Member) -> None:
    response = await client.post("/api/proxies", json={"ip": "192.168.1.1", "port": 70000},
                                 headers=admin.headers)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "validation_error" and body["message"]
    assert {"port", "session"} <= body["details"]["fields"].keys()
    bad_ip = await client.post("/api/proxies", json=_proxy(ip="not a host!"),
                               headers=admin.headers)
    assert bad_ip.status_code == 422 and "ip" in bad_ip.json()["details"]["fields"]
    status = await client.patch("/api/proxies/1/status", json={"status": "paused"},
                                headers=admin.headers)
    assert status.status_code == 422 and "status" in status.json()["details"]["fields"]


async def test_invalid_request_for_a_body_that_is_not_json(client: httpx.AsyncClient,
                                                           admin: Member) -> None:
    broken = await client.post("/api/proxies", content=b'{"ip": ',
                               headers=admin.headers | {"content-type": "application/json"})
    assert broken.status_code == 400 and broken.json()["error"] == "invalid_request"
    form = await client.post("/api/proxies", content=b"ip=1.2.3.4&port=80",
                             headers=admin.headers | {
                                 "content-type": "application/x-www-form-urlencoded"})
    assert form.status_code == 400 and form.json()["error"] == "invalid_request"
    listed = await client.post("/api/proxies", json=[1, 2], headers=admin.headers)
    assert listed.status_code == 400 and listed.json()["error"] == "invalid_request"
    assert (await client.get("/api/proxies", headers=admin.headers)).json() == []


async def test_duplicate_proxy_same_ip_and_port(client: httpx.AsyncClient,
                                                admin: Member) -> None:
    await _create(client, admin)
    again = await client.post("/api/proxies",
                              json=_proxy(session="another", protocol="socks5"),
                              headers=admin.headers)
    assert again.status_code == 409
    assert again.json() == {"error": "duplicate_proxy", "message": again.json()["message"],
                            "details": {"ip": "192.168.1.1", "port": 8080}}


async def test_duplicate_session_leaves_no_proxy_behind(
        client: httpx.AsyncClient, container: Container, admin: Member) -> None:
    await _create(client, admin)
    again = await client.post("/api/proxies", json=_proxy(ip="192.168.1.9"),
                              headers=admin.headers)
    assert again.status_code == 409 and again.json()["error"] == "duplicate_session"
    async with container.database.engines.reader.connect() as conn:
        hosts = list((await conn.execute(select(ProxyRow.host))).scalars())
    assert hosts == ["192.168.1.1"]


async def test_not_found(client: httpx.AsyncClient, admin: Member) -> None:
    for response in (
            await client.delete("/api/proxies/99", headers=admin.headers),
            await client.patch("/api/proxies/99/status", json={"status": "active"},
                               headers=admin.headers),
            await client.post("/api/proxies/99/report", json={"success": True},
                              headers=admin.headers)):
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
        assert response.json()["details"] == {"proxy_id": 99}


async def test_admins_only_in_this_shape(client: httpx.AsyncClient, admin: Member) -> None:
    member = await register(client)
    await _create(client, admin)
    for method, path, body in (
            ("GET", "/api/proxies", None), ("POST", "/api/proxies", _proxy(ip="10.1.1.1")),
            ("GET", "/api/proxies/1", None), ("DELETE", "/api/proxies/1", None),
            ("PATCH", "/api/proxies/1/status", {"status": "disabled"}),
            ("PATCH", "/api/proxies/1", {"shared": True}),
            ("POST", "/api/proxies/1/report", {"success": True}),
            ("GET", "/api/proxies/next", None), ("GET", "/api/proxies/rotation", None),
            ("PUT", "/api/proxies/rotation", {"strategy": "weighted"})):
        response = await client.request(method, path, headers=member.headers, json=body)
        assert response.status_code == 403, path
        assert response.json()["error"] == "forbidden" and "message" in response.json()
    [untouched] = (await client.get("/api/proxies", headers=admin.headers)).json()
    assert (untouched["is_active"], untouched["shared"], untouched["total_requests"]) == \
        (True, False, 0)
    anonymous = await client.get("/api/proxies")  # the 401 every surface answers alike
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "UNAUTHORIZED"


async def test_reports_move_the_counters(client: httpx.AsyncClient, admin: Member) -> None:
    await _create(client, admin)
    for success in (False, False, True, False):
        response = await client.post("/api/proxies/1/report", json={"success": success},
                                     headers=admin.headers)
        assert response.status_code == 200, response.text
    body = response.json()
    assert (body["total_requests"], body["failed_requests"], body["requests_this_hour"],
            body["error_count"]) == (4, 3, 4, 1)
    bad = await client.post("/api/proxies/1/report", json={"success": "maybe"},
                            headers=admin.headers)
    assert bad.status_code == 422 and "success" in bad.json()["details"]["fields"]


async def test_next_hands_out_private_proxies_to_admins_with_credentials(
        client: httpx.AsyncClient, container: Container, admin: Member) -> None:
    await _create(client, admin)
    empty = await client.get("/api/proxies/next", headers=admin.headers)
    assert empty.status_code == 404 and empty.json()["error"] == "not_found"
    await set_fields(container, "192.168.1.1", status="active", score=0.8)
    await container.rotation.refresh()
    response = await client.get("/api/proxies/next", params={"strategy": "least_used"},
                                headers=admin.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["ip"], body["password"], body["strategy"]) == \
        (1, "192.168.1.1", "pass", "least_used")
    await client.patch("/api/proxies/1/status", json={"status": "disabled"},
                       headers=admin.headers)
    gone = await client.get("/api/proxies/next", headers=admin.headers)
    assert gone.status_code == 404


async def test_next_numbers_a_pool_proxy_on_first_hand_out(
        client: httpx.AsyncClient, container: Container, admin: Member) -> None:
    await client.post("/proxies", json={"proxies": [{"ip": "10.9.9.9", "port": 3128}]},
                      headers=admin.headers)
    await set_fields(container, "10.9.9.9", status="active", score=0.5)
    await container.rotation.refresh()
    first = (await client.get("/api/proxies/next", headers=admin.headers)).json()
    again = (await client.get("/api/proxies/next", headers=admin.headers)).json()
    assert first["id"] == again["id"] == 1 and first["shared"] is True
    reported = await client.post("/api/proxies/1/report", json={"success": True},
                                 headers=admin.headers)
    assert reported.json()["total_requests"] == 1


async def test_rotation_settings_read_and_change(client: httpx.AsyncClient,
                                                 admin: Member) -> None:
    default = (await client.get("/api/proxies/rotation", headers=admin.headers)).json()
    assert default["strategy"] == "round_robin" and default["hourly_budget"] is None
    changed = await client.put("/api/proxies/rotation",
                               json={"strategy": "weighted", "hourly_budget": 100,
                                     "error_threshold": 3},
                               headers=admin.headers)
    assert changed.status_code == 200, changed.text
    again = (await client.get("/api/proxies/rotation", headers=admin.headers)).json()
    assert (again["strategy"], again["hourly_budget"], again["error_threshold"],
            again["health_window"]) == ("weighted", 100, 3, default["health_window"])
    bad = await client.put("/api/proxies/rotation", json={"strategy": "random"},
                           headers=admin.headers)
    assert bad.status_code == 422 and "strategy" in bad.json()["details"]["fields"]


async def test_an_id_is_never_given_twice(client: httpx.AsyncClient, admin: Member) -> None:
    first = await _create(client, admin)
    await client.delete(f"/api/proxies/{first['id']}", headers=admin.headers)
    second = await _create(client, admin, session="another")
    assert second["id"] == 2


async def test_a_proxys_own_hourly_budget_overrides_the_setting(
        client: httpx.AsyncClient, container: Container, admin: Member) -> None:
    await _create(client, admin)
    await _create(client, admin, ip="192.168.1.2", session="s2", hourly_budget=50)
    for ip in ("192.168.1.1", "192.168.1.2"):
        await set_fields(container, ip, status="active", score=0.5)
    await client.put("/api/proxies/rotation", json={"hourly_budget": 100},
                     headers=admin.headers)
    own = await client.patch("/api/proxies/1", json={"hourly_budget": 2},
                             headers=admin.headers)
    assert own.status_code == 200 and own.json()["hourly_budget"] == 2
    listed = (await client.get("/api/proxies", headers=admin.headers)).json()
    assert [p["hourly_budget"] for p in listed] == [2, 50]

    async def handed(times: int) -> list[int]:
        picks = [await client.get("/api/proxies/next", params={"strategy": "round_robin"},
                                  headers=admin.headers) for _ in range(times)]
        return [p.json()["id"] for p in picks]

    assert sorted(await handed(6)) == [1, 1, 2, 2, 2, 2]  # 1 stops at its own 2
    cleared = await client.patch("/api/proxies/1", json={"hourly_budget": None},
                                 headers=admin.headers)
    assert cleared.json()["hourly_budget"] is None  # the setting's 100 applies again
    assert 1 in await handed(2)
    bad = await client.patch("/api/proxies/1", json={"hourly_budget": 0}, headers=admin.headers)
    assert bad.status_code == 422 and "hourly_budget" in bad.json()["details"]["fields"]


async def test_requests_this_hour_starts_again_when_the_hour_turns(
        client: httpx.AsyncClient, container: Container, admin: Member) -> None:
    await _create(client, admin)
    for _ in range(2):
        await client.post("/api/proxies/1/report", json={"success": True},
                          headers=admin.headers)
    # As if those two came in the clock hour before this one.
    await set_fields(container, "192.168.1.1", requests_hour=hour_of(utcnow()) - 1)
    [listed] = (await client.get("/api/proxies", headers=admin.headers)).json()
    assert (listed["total_requests"], listed["requests_this_hour"]) == (2, 0)
    reported = await client.post("/api/proxies/1/report", json={"success": False},
                                 headers=admin.headers)
    assert (reported.json()["total_requests"], reported.json()["requests_this_hour"]) == (3, 1)


async def test_rotation_settings_are_read_from_the_database_by_every_process(
        client: httpx.AsyncClient, container: Container, admin: Member) -> None:
    await client.put("/api/proxies/rotation", headers=admin.headers, json={
        "health_window": 7, "hourly_budget": 9, "error_threshold": 4, "cooloff_seconds": 30,
        "strategy": "least_used"})
    another = RotationService(container.database)  # what another process starts with
    await another.refresh()
    assert another.current_settings == RotationSettings(
        health_window=7, hourly_budget=9, error_threshold=4, cooloff_seconds=30.0,
        strategy=Strategy.LEAST_USED)


async def test_next_follows_the_pools_filters_and_a_sticky_key(
        client: httpx.AsyncClient, container: Container, admin: Member) -> None:
    await _create(client, admin)
    await _create(client, admin, ip="192.168.1.2", session="s2", protocol="socks5")
    await _create(client, admin, ip="192.168.1.3", session="s3")
    for ip, country in (("192.168.1.1", "US"), ("192.168.1.2", "DE"), ("192.168.1.3", "US")):
        await set_fields(container, ip, status="active", score=0.5, country=country)
    await container.rotation.refresh()

    async def next_ids(times: int, **params: str) -> set[int]:
        answers = [await client.get("/api/proxies/next", params=params, headers=admin.headers)
                   for _ in range(times)]
        assert all(a.status_code == 200 for a in answers), answers[-1].text
        return {a.json()["id"] for a in answers}

    assert await next_ids(4, country="de") == {2}
    assert await next_ids(4, protocol="socks5") == {2}
    assert await next_ids(6, country="US", protocol="http") == {1, 3}
    assert len(await next_ids(6, key="account-1")) == 1  # a key alone means sticky
    none = await client.get("/api/proxies/next", params={"country": "FR"},
                            headers=admin.headers)
    assert (none.status_code, none.json()["error"]) == (404, "not_found")
    bad = await client.get("/api/proxies/next", params={"strategy": "random"},
                           headers=admin.headers)
    assert bad.status_code == 422 and "strategy" in bad.json()["details"]["fields"]
