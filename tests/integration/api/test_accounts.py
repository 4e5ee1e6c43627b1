"""The accounts domain of the pool API, as a user and an admin see it."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Member, register


async def test_register_returns_user_and_a_working_key(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/register",
                                 json={"email": "Alice@Example.com", "display_name": "Alice"})
    assert response.status_code == 201
    body = response.json()
    assert body["user"]["email"] == "alice@example.com"
    assert body["user"]["display_name"] == "Alice"
    key = body["api_key"]
    assert key["key"].startswith("pp_")
    assert len(key["key"]) == 51
    assert key["prefix"] == key["key"][:8]
    assert key["label"] == "default"

    account = await client.get("/account", headers={"Authorization": f"Bearer {key['key']}"})
    assert account.status_code == 200
    assert account.json() | {"created_at": None} == {
        "id": body["user"]["id"], "email": "alice@example.com", "display_name": "Alice",
        "role": "user", "created_at": None, "balances": {"credits": 0, "usd": 0}}


async def test_duplicate_email_is_409_in_any_case(client: httpx.AsyncClient) -> None:
    await register(client, "bob@example.com")
    response = await client.post("/auth/register", json={"email": "BOB@example.com"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "EMAIL_TAKEN"


async def test_bad_bodies_get_422_with_field_details(client: httpx.AsyncClient) -> None:
    cases = [
        {"email": "not-an-email"},
        {},
        {"email": "x@example.com", "display_name": ""},
        {"email": "x@example.com", "unexpected": 1},
    ]
    for body in cases:
        response = await client.post("/auth/register", json=body)
        assert response.status_code == 422, body
        error = response.json()["error"]
        assert error["code"] == "VALIDATION_ERROR"
        assert error["details"]["fields"], body
    broken = await client.post("/auth/register", content=b"{not json",
                               headers={"content-type": "application/json"})
    assert broken.status_code == 422
    users = await client.get("/health")
    assert users.status_code == 200


async def test_keys_can_be_added_listed_and_revoked(client: httpx.AsyncClient,
                                                    member: Member) -> None:
    made = await client.post("/auth/keys", json={"label": "scraper"}, headers=member.headers)
    assert made.status_code == 201
    second = made.json()
    assert second["label"] == "scraper"

    listed = (await client.get("/auth/keys", headers=member.headers)).json()["items"]
    assert {k["id"] for k in listed} == {member.key_id, second["id"]}
    for item in listed:
        assert "key" not in item
        assert item["prefix"].startswith("pp_")
        assert len(item["prefix"]) == 8
    assert all(member.key not in str(item) for item in listed)

    other = {"Authorization": f"Bearer {second['key']}"}
    assert (await client.get("/account", headers=other)).status_code == 200
    assert (await client.delete(f"/auth/keys/{second['id']}",
                                headers=member.headers)).status_code == 204
    assert (await client.get("/account", headers=other)).status_code == 401
    assert (await client.get("/account", headers=member.headers)).status_code == 200
    revoked = [k for k in (await client.get("/auth/keys", headers=member.headers)).json()["items"]
               if k["id"] == second["id"]]
    assert revoked[0]["revoked_at"] is not None


async def test_a_user_cannot_revoke_someone_elses_key(client: httpx.AsyncClient,
                                                      member: Member) -> None:
    stranger = await register(client)
    response = await client.delete(f"/auth/keys/{member.key_id}", headers=stranger.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
    assert (await client.get("/account", headers=member.headers)).status_code == 200
    unknown = await client.delete(f"/auth/keys/{uuid.uuid4()}", headers=member.headers)
    assert unknown.status_code == 404
    malformed = await client.delete("/auth/keys/not-a-uuid", headers=member.headers)
    assert malformed.status_code == 422


async def test_admin_grants_credits_and_money(client: httpx.AsyncClient, admin: Member,
                                              member: Member) -> None:
    granted = await client.post(f"/admin/users/{member.id}/grants", headers=admin.headers,
                                json={"currency": "credits", "amount": 100,
                                      "description": "Credit purchase"})
    assert granted.status_code == 201, granted.text
    assert granted.json()["balance"] == 100
    money = await client.post(f"/admin/users/{member.id}/grants", headers=admin.headers,
                              json={"currency": "usd", "amount": 1250})
    assert money.status_code == 201

    account = (await client.get("/account", headers=member.headers)).json()
    assert account["balances"] == {"credits": 100, "usd": 1250}
    credits = (await client.get("/account/credits", headers=member.headers)).json()
    assert credits["balance"] == 100
    [entry] = credits["recent_transactions"]
    assert entry["amount"] == 100
    assert entry["tx_type"] == "purchase"
    assert entry["description"] == "Credit purchase"
    assert entry["created_at"].endswith("Z")
    usd = (await client.get("/account/credits?currency=usd", headers=member.headers)).json()
    assert usd["balance"] == 1250
    assert usd["recent_transactions"][0]["currency"] == "usd"


async def test_grants_are_for_admins_and_validated(client: httpx.AsyncClient, admin: Member,
                                                   member: Member) -> None:
    path = f"/admin/users/{member.id}/grants"
    as_user = await client.post(path, headers=member.headers,
                                json={"currency": "credits", "amount": 5})
    assert as_user.status_code == 403
    assert as_user.json()["error"]["code"] == "FORBIDDEN"
    for body in [{"currency": "credits", "amount": 0}, {"currency": "credits", "amount": -5},
                 {"currency": "gold", "amount": 5}, {"currency": "credits", "amount": 1.5},
                 {"currency": "credits"}]:
        response = await client.post(path, headers=admin.headers, json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    unknown = await client.post(f"/admin/users/{uuid.uuid4()}/grants", headers=admin.headers,
                                json={"currency": "credits", "amount": 5})
    assert unknown.status_code == 404
    account = (await client.get("/account", headers=member.headers)).json()
    assert account["balances"]["credits"] == 0


async def test_admin_lists_users_page_by_page(client: httpx.AsyncClient, admin: Member) -> None:
    for _ in range(5):
        await register(client)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/admin/users", params=params, headers=admin.headers)).json()
        assert page["total_count"] == 6
        seen.extend(u["id"] for u in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 6
    bad = await client.get("/admin/users", params={"cursor": "garbage!"}, headers=admin.headers)
    assert bad.status_code == 422


async def test_unknown_paths_and_methods_use_the_error_envelope(
        client: httpx.AsyncClient) -> None:
    missing = await client.get("/no/such/thing")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"
    wrong = await client.put("/health")
    assert wrong.status_code == 405
    assert set(wrong.json()["error"]) == {"code", "message", "details"}


async def test_registration_can_be_closed(container, settings) -> None:  # type: ignore[no-untyped-def]
    from proxyfleet.api.app import create_app

    container.settings = settings.model_copy(update={"registration_open": False})
    transport = httpx.ASGITransport(app=create_app(container))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as closed:
        response = await closed.post("/auth/register", json={"email": "late@example.com"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "REGISTRATION_CLOSED"
