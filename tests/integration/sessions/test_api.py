"""Seed 003's endpoints end to end: sessions, limits, actions through the pinned proxy to the
simulated Instagram, and every error code in the seed's envelope."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from proxyfleet.bootstrap import Container
from proxyfleet.core.clock import utcnow
from proxyfleet.sim.farm import Farm
from proxyfleet.sim.instagram import Refusal, RefusalKind, SimInstagram
from proxyfleet.storage.tables import AccountSessionRow
from tests.conftest import Member, register
from tests.integration.sessions.conftest import USER_AGENT, Account, egress_of, new_account


async def create(api: httpx.AsyncClient, who: Member, account: Account,
                 **extra: Any) -> dict[str, Any]:
    answer = await api.post("/api/instagram/session", headers=who.headers,
                            json=account.body(**extra))
    assert answer.status_code == 201, answer.text
    assert answer.json()["success"] is True
    session: dict[str, Any] = answer.json()["data"]["session"]
    return session


def failure(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert set(body) == {"success", "error_code", "message", "errors"}
    assert (body["success"], body["error_code"]) == (False, code)
    return body


async def test_a_session_is_created_pinned_and_never_shows_its_cookies(
        api: httpx.AsyncClient, member: Member, instagram: SimInstagram,
        world: Container) -> None:
    account = new_account(instagram, "Alice.Example")
    answer = await api.post("/api/instagram/session", headers=member.headers,
                            json=account.body(cookies={"sessionid": account.sessionid,
                                                       "ds_user_id": "77"}))
    assert answer.status_code == 201
    session = answer.json()["data"]["session"]
    assert session["username"] == "alice.example"
    assert session["cookies"] == ["csrftoken", "ds_user_id", "sessionid"]
    assert session["user_agent"] == USER_AGENT
    assert session["state"] == "active"
    assert session["proxy"]["id"] in {1, 2, 3, 4}
    assert account.sessionid not in answer.text
    async with world.database.engines.reader.connect() as conn:
        row = (await conn.execute(select(AccountSessionRow.session, AccountSessionRow.cookies,
                                         AccountSessionRow.status))).one()
    assert account.sessionid not in row.session + row.cookies  # sealed at rest
    assert row.status == "active"


async def test_an_action_leaves_through_the_pinned_proxy(
        api: httpx.AsyncClient, member: Member, instagram: SimInstagram, farm: Farm) -> None:
    account = new_account(instagram)
    session = await create(api, member, account)
    answer = await api.post("/api/instagram/like", headers=member.headers,
                            json={"username": account.username, "media_id": "post789",
                                  "action_type": "like"})
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert (data["action"], data["target"], data["already_done"]) == ("like", "post789", False)
    [seen] = instagram.world.actions
    assert (seen["action"], seen["target"], seen["username"]) == ("like", "post789",
                                                                  account.username)
    assert seen["peer"] == egress_of(farm, session["proxy"]["id"])
    assert seen["user_agent"] == USER_AGENT


async def test_follow_and_comment_with_the_seed_bodies(
        api: httpx.AsyncClient, member: Member, instagram: SimInstagram) -> None:
    account = new_account(instagram)
    await create(api, member, account)
    followed = await api.post("/api/instagram/follow", headers=member.headers, json={
        "username": account.username, "target_user_id": "target456", "action_type": "follow"})
    assert followed.json()["data"]["response"]["friendship_status"]["following"] is True
    commented = await api.post("/api/instagram/comment", headers=member.headers, json={
        "username": account.username, "media_id": "post789", "text": "Great post!"})
    assert commented.json()["data"]["response"]["comment"]["text"] == "Great post!"
    assert [(a["action"], a["target"]) for a in instagram.world.actions] == [
        ("follow", "target456"), ("comment", "post789")]


async def test_a_repeated_like_burns_no_quota_and_says_so(
        api: httpx.AsyncClient, member: Member, instagram: SimInstagram) -> None:
    account = new_account(instagram)
    await create(api, member, account)
    body = {"username": account.username, "media_id": "m1"}
    await api.post("/api/instagram/like", headers=member.headers, json=body)
    again = await api.post("/api/instagram/like", headers=member.headers, json=body)
    assert again.status_code == 200
    assert again.json()["data"]["already_done"] is True
    assert "Already" in again.json()["data"]["message"]
    assert len(instagram.world.actions) == 1
    limits = await api.get(f"/api/instagram/limits/{account.username}", headers=member.headers)
    like = limits.json()["data"]["limits"]["like"]
    assert (like["limit"], like["used"], like["remaining"]) == (1000, 1, 999)
    assert like["frees_at"] is not None


async def test_limits_show_every_action_and_overrides(
        api: httpx.AsyncClient, member: Member, instagram: SimInstagram) -> None:
    account = new_account(instagram)
    await create(api, member, account, limits={"comment": 5})
    answer = await api.get(f"/api/instagram/limits/{account.username}", headers=member.headers)
    assert answer.status_code == 200
    limits = answer.json()["data"]["limits"]
    assert {name: (v["limit"], v["used"], v["remaining"], v["frees_at"])
            for name, v in limits.items()} == {
        "follow": (200, 0, 200, None), "like": (1000, 0, 1000, None),
        "comment": (5, 0, 5, None)}


async def test_rate_limit_exceeded_says_when_a_unit_frees(
        api: httpx.AsyncClient, member: Member, instagram: SimInstagram) -> None:
    account = new_account(instagram)
    await create(api, member, account, limits={"follow": 1})
    first = await api.post("/api/instagram/follow", headers=member.headers,
                           json={"username": account.username, "target_user_id": "1"})
    assert first.status_code == 200
    refused = await api.post("/api/instagram/follow", headers=member.headers,
                             json={"username": account.username, "target_user_id": "2"})
    body = failure(refused, 429, "RATE_LIMIT_EXCEEDED")
    assert body["errors"]["reason"] == "daily_limit"
    assert body["errors"]["retry_at"].endswith("Z")
    assert 86000 < int(refused.headers["Retry-After"]) <= 86400
    assert [a["target"] for a in instagram.world.actions] == ["1"]


async def test_invalid_session_for_unknown_invalidated_and_expired(
        api: httpx.AsyncClient, member: Member, instagram: SimInstagram,
        world: Container) -> None:
    like = {"media_id": "m1"}
    unknown = await api.post("/api/instagram/like", headers=member.headers,
                             json={"username": "nobody", **like})
    failure(unknown, 401, "INVALID_SESSION")
    failure(await api.get("/api/instagram/limits/nobody", headers=member.headers), 401,
            "INVALID_SESSION")
    failure(await api.delete("/api/instagram/session/nobody", headers=member.headers), 401,
            "INVALID_SESSION")
    gone, old = new_account(instagram), new_account(instagram)
    await create(api, member, gone)
    await create(api, member, old)
    deleted = await api.delete(f"/api/instagram/session/{gone.username}",
                               headers=member.headers)
    assert deleted.json()["data"]["state"] == "invalidated"
    failure(await api.post("/api/instagram/like", headers=member.headers,
                           json={"username": gone.username, **like}), 401, "INVALID_SESSION")
    async with world.database.engines.writer.begin() as conn:
        await conn.execute(update(AccountSessionRow)
                           .where(AccountSessionRow.username == old.username)
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
    expired = await api.post("/api/instagram/like", headers=member.headers,
                             json={"username": old.username, **like})
    assert failure(expired, 401, "INVALID_SESSION")["errors"]["state"] == "expired"
    assert instagram.world.actions == []


async def test_validation_errors_name_the_fields(api: httpx.AsyncClient,
                                                 member: Member) -> None:
    missing = await api.post("/api/instagram/session", headers=member.headers,
                             json={"username": "bad name!"})
    errors = failure(missing, 422, "VALIDATION_ERROR")["errors"]
    assert {"username", "session_id", "user_agent"} <= set(errors)
    wrong_type = await api.post("/api/instagram/like", headers=member.headers,
                                json={"username": "a", "media_id": "m", "action_type": "follow"})
    assert "action_type" in failure(wrong_type, 422, "VALIDATION_ERROR")["errors"]
    empty = await api.post("/api/instagram/comment", headers=member.headers,
                           json={"username": "a", "media_id": "m", "text": ""})
    assert "text" in failure(empty, 422, "VALIDATION_ERROR")["errors"]
    not_json = await api.post("/api/instagram/follow", headers=member.headers,
                              content=b"{nope", )
    failure(not_json, 422, "VALIDATION_ERROR")


async def test_only_the_creator_and_admins_may_act(
        api: httpx.AsyncClient, member: Member, admin: Member, instagram: SimInstagram) -> None:
    account = new_account(instagram)
    await create(api, member, account)
    stranger = await register(api)
    body = {"username": account.username, "media_id": "m1"}
    for refused in (await api.post("/api/instagram/like", headers=stranger.headers, json=body),
                    await api.post("/api/instagram/session", headers=stranger.headers,
                                   json=account.body())):
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "FORBIDDEN"  # the platform's shape
    assert (await api.post("/api/instagram/like", headers=admin.headers, json=body)
            ).status_code == 200
    anonymous = await api.post("/api/instagram/like", json=body)
    assert (anonymous.status_code, anonymous.json()["error"]["code"]) == (401, "UNAUTHORIZED")


async def test_the_same_cookie_cannot_serve_two_accounts(
        api: httpx.AsyncClient, member: Member, instagram: SimInstagram) -> None:
    account = new_account(instagram)
    await create(api, member, account)
    copy = Account("someone_else", account.sessionid)
    answer = await api.post("/api/instagram/session", headers=member.headers, json=copy.body())
    assert "session_id" in failure(answer, 422, "VALIDATION_ERROR")["errors"]


async def test_a_new_login_replaces_the_session_and_keeps_its_quota(
        api: httpx.AsyncClient, member: Member, instagram: SimInstagram) -> None:
    account = new_account(instagram)
    first = await create(api, member, account)
    await api.post("/api/instagram/like", headers=member.headers,
                   json={"username": account.username, "media_id": "m1"})
    await api.delete(f"/api/instagram/session/{account.username}", headers=member.headers)
    relogin = new_account(instagram, account.username)
    second = await create(api, member, relogin)
    assert (second["id"], second["proxy"], second["state"]) == (
        first["id"], first["proxy"], "active")
    limits = await api.get(f"/api/instagram/limits/{account.username}", headers=member.headers)
    assert limits.json()["data"]["limits"]["like"]["used"] == 1


async def test_instagram_failures_are_request_failed(
        api: httpx.AsyncClient, member: Member, instagram: SimInstagram) -> None:
    account = new_account(instagram)
    await create(api, member, account)
    instagram.world.refusals.append(Refusal(RefusalKind.SERVER_ERROR, times=None, status=503))
    answer = await api.post("/api/instagram/like", headers=member.headers,
                            json={"username": account.username, "media_id": "m1"})
    body = failure(answer, 502, "REQUEST_FAILED")
    assert (body["errors"]["reason"], body["errors"]["status"], body["errors"]["attempts"]) == (
        "server_error", 503, 2)
    instagram.world.refusals.clear()
    limits = await api.get(f"/api/instagram/limits/{account.username}", headers=member.headers)
    assert limits.json()["data"]["limits"]["like"]["used"] == 0  # the unit was given back
    assert (await api.post("/api/instagram/like", headers=member.headers,
                           json={"username": account.username, "media_id": "m1"})
            ).status_code == 200


async def test_the_session_is_a_row_of_the_one_session_table(
        api: httpx.AsyncClient, member: Member, admin: Member, instagram: SimInstagram) -> None:
    account = new_account(instagram)
    session = await create(api, member, account)
    listing = await api.get("/api/proxies", headers=admin.headers)
    assert listing.status_code == 200
    [proxy] = [p for p in listing.json() if p["id"] == session["proxy"]["id"]]
    assert [(s["id"], s["status"]) for s in proxy["sessions"]] == [(session["id"], "active")]
    await api.delete(f"/api/instagram/session/{account.username}", headers=member.headers)
    listing = await api.get("/api/proxies", headers=admin.headers)
    [proxy] = [p for p in listing.json() if p["id"] == session["proxy"]["id"]]
    assert [s["status"] for s in proxy["sessions"]] == ["disabled"]


async def test_a_cookie_bound_on_the_manager_is_the_accounts_session(
        api: httpx.AsyncClient, member: Member, admin: Member, instagram: SimInstagram,
        farm: Farm) -> None:
    """Seed 000 binds a cookie to a proxy; seed 003 takes that same row for the account,
    on that proxy, and the manager lists it under it."""
    exit_proxy = farm.members[3]
    assert (await api.delete("/api/proxies/4", headers=admin.headers)).status_code == 204
    account = new_account(instagram)
    made = await api.post("/api/proxies", headers=admin.headers, json={
        "ip": exit_proxy.address.host, "port": exit_proxy.address.port,
        "username": exit_proxy.address.username, "password": exit_proxy.address.password,
        "session": account.sessionid})
    assert made.status_code == 201, made.text
    [bound] = made.json()["sessions"]
    session = await create(api, member, account)
    assert (session["id"], session["proxy"]["id"]) == (bound["id"], made.json()["id"])
    answer = await api.post("/api/instagram/like", headers=member.headers,
                            json={"username": account.username, "media_id": "m1"})
    assert answer.status_code == 200, answer.text
    assert instagram.world.actions[-1]["peer"] == exit_proxy.egress
    listed = (await api.get(f"/api/proxies/{made.json()['id']}", headers=admin.headers)).json()
    assert listed["sessions"] == [{"id": bound["id"], "session": account.sessionid,
                                   "status": "active"}]
    again = await api.post("/api/proxies", headers=admin.headers, json={
        "ip": "192.168.50.1", "port": 8080, "session": account.sessionid})
    assert (again.status_code, again.json()["error"]) == (409, "duplicate_session")


async def test_a_user_lists_their_sessions_and_an_admin_every_one(
        api: httpx.AsyncClient, member: Member, admin: Member, instagram: SimInstagram) -> None:
    mine = await create(api, member, new_account(instagram, "b_mine"))
    other = await register(api)
    theirs = await create(api, other, new_account(instagram, "a_theirs"))
    await api.delete(f"/api/instagram/session/{theirs['username']}", headers=other.headers)
    listed = await api.get("/api/instagram/sessions", headers=member.headers)
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"success": True, "data": {"sessions": [mine], "total": 1}}
    every = (await api.get("/api/instagram/sessions", headers=admin.headers)).json()["data"]
    assert [(s["username"], s["state"]) for s in every["sessions"]] == [
        ("a_theirs", "invalidated"), ("b_mine", "active")]
    assert "sess-" not in str(every)  # cookie values never leave
    anonymous = await api.get("/api/instagram/sessions")
    assert (anonymous.status_code, anonymous.json()["error"]["code"]) == (401, "UNAUTHORIZED")
