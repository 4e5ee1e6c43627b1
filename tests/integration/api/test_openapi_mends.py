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
                    schema = answer["content"]["application/json"]["schema"]
                    for ref in [schema] if "$ref" in schema else schema["anyOf"]:
                        name = ref["$ref"].rsplit("/", 1)[1].rsplit("__", 1)[-1]
                        assert name in {"ErrorOut", "Ipv6ErrorOut", "HealthOut",
                                        "ManagerErrorOut", "DetailOut", "InstagramErrorOut"}, \
                            (method, path, status)
    acquire = set(spec["paths"]["/proxies/acquire"]["post"]["responses"])
    assert {"200", "401", "402", "404", "409", "422"} <= acquire
    assert {"403", "429"} <= set(spec["paths"]["/proxies/test"]["post"]["responses"])
    assert "502" in spec["paths"]["/sources/{source_id}/scrape"]["post"]["responses"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]


@pytest.mark.parametrize(("method", "path", "allowed", "error"), [
    ("PUT", "/sources", "GET, POST", "METHOD_NOT_ALLOWED"),
    ("PUT", "/sources/0b7e1f0e-2d1c-4a5e-9f3b-0d6c2e1a4b5c", "DELETE, GET, PATCH",
     "METHOD_NOT_ALLOWED"),
    ("GET", "/proxies/test", "POST", "METHOD_NOT_ALLOWED"),
    ("GET", "/proxies/acquire", "POST", "METHOD_NOT_ALLOWED"),
    ("DELETE", "/proxies", "GET, POST", "METHOD_NOT_ALLOWED"),
    # Seed 000's proxy numbers are integers: these paths are no proxy's, and seed 000's
    # paths answer in its flat shape.
    ("PATCH", "/api/proxies/next", "GET", "invalid_request"),
    ("PATCH", "/api/proxies/rotation", "GET, PUT", "invalid_request"),
    ("POST", "/api/proxies/rotation", "GET, PUT", "invalid_request"),
    ("DELETE", "/api/proxies", "GET, POST", "invalid_request"),
])
async def test_a_wrong_method_is_405_with_every_method_of_the_path(
        client: httpx.AsyncClient, admin: Member, method: str, path: str,
        allowed: str, error: str) -> None:
    response = await client.request(method, path, headers=admin.headers, json={})
    assert response.status_code == 405, response.text
    assert response.headers["Allow"] == allowed
    answer = response.json()["error"]
    assert (answer if isinstance(answer, str) else answer["code"]) == error


async def test_a_proxy_number_that_is_not_a_number_is_not_found_in_seed_000s_shape(
        client: httpx.AsyncClient, admin: Member) -> None:
    for method, path in [("GET", "/api/proxies/abc"), ("PATCH", "/api/proxies/null,null"),
                         ("POST", "/api/proxies/1.5/report")]:
        response = await client.request(method, path, headers=admin.headers, json={})
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"] == "not_found"


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


def _schema(spec: dict[str, Any], path: str, method: str, status: str) -> dict[str, Any]:
    schema: dict[str, Any] = spec["paths"][path][method]["responses"][status]["content"][
        "application/json"]["schema"]
    return schema


def _refs(schema: dict[str, Any]) -> set[str]:
    return {ref["$ref"].rsplit("/", 1)[1].rsplit("__", 1)[-1]
            for ref in ([schema] if "$ref" in schema else schema["anyOf"])}


async def test_instagram_401s_are_documented_in_both_their_shapes(
        client: httpx.AsyncClient, member: Member, spec: dict[str, Any]) -> None:
    # A missing key answers in the platform's shape, INVALID_SESSION in the seed's.
    keyless = await client.get("/api/instagram/sessions")
    assert keyless.status_code == 401
    assert set(keyless.json()) == {"error"}
    for path, operations in spec["paths"].items():
        if path.startswith("/api/instagram/"):
            for method in operations:
                assert _refs(_schema(spec, path, method, "401")) == {
                    "ErrorOut", "InstagramErrorOut"}, (method, path)


async def test_shop_money_is_documented_as_the_number_it_is(
        client: httpx.AsyncClient, admin: Member, spec: dict[str, Any]) -> None:
    stats = await client.get("/api/external-proxy/stats", headers=admin.headers)
    assert stats.status_code == 200, stats.text
    assert isinstance(stats.json()["revenue"], float)
    schemas = spec["components"]["schemas"]
    for model, field in [("StatsOut", "revenue"), ("PurchaseOut", "price"),
                         ("ProductOut", "price"), ("RefundOut", "refund_amount")]:
        [name] = [n for n in schemas if n.rsplit("__", 1)[-1] == model
                  and field in schemas[n].get("properties", {})]
        assert schemas[name]["properties"][field]["type"] == "number", (model, field)
