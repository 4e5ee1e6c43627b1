"""The spec and the service agree: documented error answers in their envelope, 405 with the
path's whole Allow, no boolean taken for a number, PATCH fields the schema says may not be
null, and unreadable bodies answered as validation errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Member


@pytest.fixture
async def spec(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_every_keyed_operation_documents_its_errors(spec: dict[str, Any]) -> None:
    public = {("/auth/register", "post"), ("/health", "get"), ("/judge", "get"),
              ("/api/health", "get")}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            documented = set(operation["responses"])
            if (path, method) not in public:
                assert {"401", "422"} <= documented or {"400", "401"} <= documented, \
                    (method, path, documented)
            for status, answer in operation["responses"].items():
                if status.startswith(("4", "5")):
                    schema = answer["content"]["application/json"]["schema"]["$ref"]
                    name = schema.rsplit("/", 1)[1].rsplit("__", 1)[-1]
                    assert name in {"ErrorOut", "Ipv6ErrorOut", "HealthOut", "ManagerErrorOut",
                                    "DetailOut", "InstagramErrorOut"}, \
                        (method, path, status)
    acquire = set(spec["paths"]["/proxies/acquire"]["post"]["responses"])
    assert {"200", "401", "402", "404", "409", "422"} <= acquire
    assert {"403", "429"} <= set(spec["paths"]["/proxies/test"]["post"]["responses"])
    assert "502" in spec["paths"]["/sources/{source_id}/scrape"]["post"]["responses"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("PUT", "/sources", "GET, POST"),
    ("PUT", "/sources/0b7e1f0e-2d1c-4a5e-9f3b-0d6c2e1a4b5c", "DELETE, GET, PATCH"),
    ("GET", "/proxies/test", "POST"),
    ("GET", "/proxies/acquire", "POST"),
    ("DELETE", "/proxies", "GET, POST"),
])
async def test_a_wrong_method_is_405_with_every_method_of_the_path(
        client: httpx.AsyncClient, admin: Member, method: str, path: str,
        allowed: str) -> None:
    response = await client.request(method, path, headers=admin.headers)
    assert response.status_code == 405, response.text
    assert response.headers["Allow"] == allowed
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


async def test_a_proxy_id_that_is_not_a_uuid_is_not_found(client: httpx.AsyncClient,
                                                          member: Member) -> None:
    assert (await client.get("/proxies/nope", headers=member.headers)).status_code == 404


@pytest.mark.parametrize(("path", "body"), [
    ("/proxies/test", {"url": "http://1.0.0.1/", "timeout_seconds": True}),
    ("/proxies/test", {"url": "http://1.0.0.1/", "count": True}),
    ("/proxies/acquire", {"lease_duration_seconds": True}),
    ("/proxies/acquire", {"min_score": False}),
])
async def test_a_boolean_is_not_a_number(client: httpx.AsyncClient, member: Member,
                                         path: str, body: dict[str, Any]) -> None:
    response = await client.post(path, headers=member.headers, json=body)
    assert response.status_code == 422, response.text
    credits = (await client.get("/account/credits", headers=member.headers)).json()
    assert credits["recent_transactions"] == []


async def test_booleans_are_not_numbers_in_nested_and_admin_bodies(
        client: httpx.AsyncClient, admin: Member, member: Member) -> None:
    proxies = await client.post("/proxies", headers=admin.headers, json={
        "proxies": [{"ip": "10.1.1.1", "port": True}]})
    assert proxies.status_code == 422
    grant = await client.post(f"/admin/users/{member.id}/grants", headers=admin.headers,
                              json={"currency": "credits", "amount": True})
    assert grant.status_code == 422
    temp = await client.post("/api/proxy/create_temp", headers=admin.headers,
                             json={"type": "http", "ttl": True})
    assert temp.status_code == 400  # seed 004's validation status
    assert "ttl" in temp.json()["error"]


async def test_patch_fields_may_be_left_out_but_not_null(
        client: httpx.AsyncClient, admin: Member, spec: dict[str, Any]) -> None:
    patch = spec["components"]["schemas"]["SourcePatch"]["properties"]
    for name, field in patch.items():
        assert "null" not in str(field), (name, field)
    created = await client.post("/sources", headers=admin.headers, json={
        "url": "http://127.0.0.1:9/list.txt", "parser_name": "plaintext"})
    assert created.status_code == 201, created.text
    source = created.json()
    changed = await client.patch(f"/sources/{source['id']}", headers=admin.headers,
                                 json={"is_active": False})
    assert changed.status_code == 200
    assert changed.json()["cron_schedule"] == source["cron_schedule"]
    refused = await client.patch(f"/sources/{source['id']}", headers=admin.headers,
                                 json={"cron_schedule": None})
    assert refused.status_code == 422


async def test_an_unreadable_body_is_a_validation_error(client: httpx.AsyncClient,
                                                       member: Member) -> None:
    response = await client.post("/auth/keys", headers=member.headers | {
        "content-type": "application/json"}, content=b"\x1c\xff\xfe")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
