"""Input the fuzzers found: NUL characters in text (a 500 on PostgreSQL, stored as given on
SQLite) and crafted cursors (500s, echoed totals). Both are refused with a 4xx on both
databases, and nothing is written."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest

from proxyfleet.api.pagination import CursorCodec
from proxyfleet.bootstrap import Container
from proxyfleet.storage.sealing import SecretBox
from tests.conftest import Member, register
from tests.integration.pool.seeding import addresses, seed


def _unsigned(position: list[Any]) -> str:
    raw = json.dumps(position).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _assert_nul_refused(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_nul_in_a_public_registration_is_422_and_stores_nothing(
        client: httpx.AsyncClient, admin: Member) -> None:
    email = f"nul-{uuid.uuid4().hex[:8]}@example.com"
    _assert_nul_refused(await client.post(
        "/auth/register", json={"email": email, "display_name": "Al\u0000ice"}))
    # A raw NUL byte is not JSON either.
    _assert_nul_refused(await client.post(
        "/auth/register", content=b'{"email": "x@example.com", "display_name": "A\x00"}',
        headers={"content-type": "application/json"}))
    users = (await client.get("/admin/users", headers=admin.headers)).json()["items"]
    assert email not in [u["email"] for u in users]
    # An escaped backslash followed by u0000 is six ordinary characters, not a NUL.
    fine = await client.post("/auth/register",
                             json={"email": email, "display_name": "\\u0000"})
    assert fine.status_code == 201
    assert fine.json()["user"]["display_name"] == "\\u0000"


async def test_nul_in_a_key_label_a_grant_and_a_proxy_login_is_422(
        client: httpx.AsyncClient, admin: Member, member: Member, container: Container) -> None:
    _assert_nul_refused(await client.post("/auth/keys", json={"label": "k\u0000"},
                                          headers=member.headers))
    assert len((await client.get("/auth/keys", headers=member.headers)).json()["items"]) == 1
    _assert_nul_refused(await client.post(
        f"/admin/users/{member.id}/grants", headers=admin.headers,
        json={"currency": "credits", "amount": 5, "description": "gift\u0000"}))
    credits = (await client.get("/account/credits", headers=member.headers)).json()
    assert credits["balance"] == 0
    _assert_nul_refused(await client.post("/proxies", headers=admin.headers, json={"proxies": [
        {"ip": "10.9.9.9", "port": 8080, "protocol": "http", "username": "u\u0000",
         "password": "p"}]}))
    # Nested in a key of an object, too.
    _assert_nul_refused(await client.post("/auth/keys", json={"la\u0000bel": "k"},
                                          headers=member.headers))
    listed = (await client.get("/proxies", headers=admin.headers)).json()
    assert listed["total_count"] == 0


async def test_nul_in_a_query_or_path_is_refused(client: httpx.AsyncClient,
                                                 admin: Member) -> None:
    response = await client.get("/proxies?country=U%00", headers=admin.headers)
    _assert_nul_refused(response)
    response = await client.get("/sources/%00", headers=admin.headers)
    _assert_nul_refused(response)


async def test_nul_on_the_ipv6_surface_is_its_own_validation_error(
        client: httpx.AsyncClient, admin: Member) -> None:
    response = await client.post("/api/create_proxy", headers=admin.headers,
                                 json={"type": "http", "interface": "eth\u00000"})
    assert response.status_code == 400  # seed 004 answers bad input 400, in its own shape
    assert isinstance(response.json()["error"], str)


@pytest.mark.parametrize("path", ["/admin/users", "/sources"])
async def test_crafted_creation_cursors_are_422(client: httpx.AsyncClient, admin: Member,
                                                path: str) -> None:
    for position in (["2025-01-01T00:00:00", str(uuid.uuid4())],  # a moment without a zone
                     ["2025-01-01T00:00:00+00:00", str(uuid.uuid4())]):
        response = await client.get(path, params={"cursor": _unsigned(position)},
                                    headers=admin.headers)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_crafted_proxy_cursors_are_422(client: httpx.AsyncClient, member: Member,
                                             container: Container) -> None:
    await seed(container, addresses(3), status="active", score=0.5)
    first = (await client.get("/proxies", params={"limit": 1},
                              headers=member.headers)).json()
    assert first["total_count"] == 3
    proxy_id = first["items"][0]["id"]
    for position in (["score", "desc", 10**400, proxy_id, 3],  # oversized integer
                     ["score", "desc", True, proxy_id, 3],  # a boolean
                     ["score", "desc", 0.5, proxy_id, 999_999]):  # a total of our choosing
        response = await client.get("/proxies", params={"cursor": _unsigned(position)},
                                    headers=member.headers)
        assert response.status_code == 422, response.text
    cursor = first["next_cursor"]
    payload, _, mac = cursor.rpartition(".")
    position = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    position[-1] = 999_999
    forged = f"{_unsigned(position)}.{mac}"
    response = await client.get("/proxies", params={"cursor": forged}, headers=member.headers)
    assert response.status_code == 422
    honest = await client.get("/proxies", params={"cursor": cursor}, headers=member.headers)
    assert honest.status_code == 200
    assert honest.json()["total_count"] == 3


async def test_a_cursor_from_another_secret_key_is_refused(
        client: httpx.AsyncClient, container: Container) -> None:
    member = await register(client)
    foreign = CursorCodec(SecretBox(b"someone else's key")).encode(
        ["score", "desc", 0.5, str(uuid.uuid4()), 1])
    response = await client.get("/proxies", params={"cursor": foreign}, headers=member.headers)
    assert response.status_code == 422


async def test_signed_proxy_cursors_holding_the_wrong_values_are_422(
        client: httpx.AsyncClient, member: Member, container: Container) -> None:
    """A cursor the server signed is still read with care: should one ever carry a value of
    the wrong type, it is the caller's 422, never a value bound into SQL or a 500."""
    await seed(container, addresses(3), status="active", score=0.5)
    ours = CursorCodec(container.database.box)
    proxy_id = str(uuid.uuid4())
    for sort, position in [
        ("score", ["score", "desc", 10**200, proxy_id, 3]),  # beyond any score
        ("score", ["score", "desc", True, proxy_id, 3]),  # a boolean is not a number
        ("score", ["score", "desc", float("inf"), proxy_id, 3]),
        ("score", ["score", "desc", "0.5", proxy_id, 3]),
        ("score", ["score", "desc", 0.5, proxy_id, True]),
        ("score", ["score", "desc", 0.5, proxy_id, -1]),
        ("score", ["score", "desc", 0.5, proxy_id, 2**53 + 1]),
        ("score", ["score", "desc", 0.5, "not-a-uuid", 3]),
        ("score", ["score", "asc", 0.5, proxy_id, 3]),  # another ordering's cursor
        ("score", ["latency", "desc", 0.5, proxy_id, 3]),
        ("score", ["score", "desc", 0.5, proxy_id]),
        ("last_checked", ["last_checked", "desc", "2025-01-01T00:00:00", proxy_id, 3]),
        ("last_checked", ["last_checked", "desc", 5, proxy_id, 3]),
    ]:
        response = await client.get("/proxies", params={"sort": sort, "cursor": ours.encode(
            position)}, headers=member.headers)
        assert response.status_code == 422, (position, response.text)
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    fine = ours.encode(["score", "desc", 0.6, proxy_id, 3])
    response = await client.get("/proxies", params={"cursor": fine}, headers=member.headers)
    assert response.status_code == 200
    assert response.json()["total_count"] == 3


@pytest.mark.parametrize("path", ["/admin/users", "/sources"])
async def test_signed_creation_cursors_holding_the_wrong_values_are_422(
        client: httpx.AsyncClient, admin: Member, container: Container, path: str) -> None:
    ours = CursorCodec(container.database.box)
    for position in (["2025-01-01T00:00:00", str(uuid.uuid4())],  # a moment without a zone
                     ["2025-01-01T00:00:00+00:00", "not-a-uuid"],
                     [True, str(uuid.uuid4())], ["2025-01-01T00:00:00+00:00"]):
        response = await client.get(path, params={"cursor": ours.encode(position)},
                                    headers=admin.headers)
        assert response.status_code == 422, (position, response.text)
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    fine = ours.encode(["2025-01-01T00:00:00+00:00", str(uuid.uuid4())])
    assert (await client.get(path, params={"cursor": fine},
                             headers=admin.headers)).status_code == 200


async def test_nul_on_every_other_surface_is_its_own_validation_error(
        client: httpx.AsyncClient, admin: Member, member: Member) -> None:
    manager = await client.post("/api/proxies", headers=admin.headers, json={
        "ip": "10.9.9.8", "port": 8080, "username": "u\u0000", "password": "p"})
    assert manager.status_code == 422, manager.text
    assert manager.json()["error"] == "validation_error"
    assert (await client.get("/api/proxies", headers=admin.headers)).json() == []
    shop = await client.post("/api/external-proxy/purchase", headers=member.headers,
                             json={"product_id": 1, "note": "\u0000"})
    assert shop.status_code == 422, shop.text
    assert "detail" in shop.json()
    instagram = await client.post("/api/instagram/session", headers=member.headers, json={
        "username": "al\u0000ice", "cookies": {"sessionid": "s"}})
    assert instagram.status_code == 422, instagram.text
    assert instagram.json()["error_code"] == "VALIDATION_ERROR"
