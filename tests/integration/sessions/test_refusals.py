"""Each of Instagram's refusals leads to its documented state: feedback_required blocks that
action for the cool-off, "Please wait" stops every write for an hour, challenge_required stops
the session, login_required invalidates it."""

from __future__ import annotations

from typing import Any

import httpx

from proxyfleet.bootstrap import Container
from proxyfleet.core.events import EventName
from proxyfleet.sim.instagram import Refusal, RefusalKind, SimInstagram
from tests.conftest import Member
from tests.integration.sessions.conftest import new_account
from tests.integration.sessions.test_api import create, failure


async def _act(api: httpx.AsyncClient, who: Member, kind: str, **body: Any) -> httpx.Response:
    return await api.post(f"/api/instagram/{kind}", headers=who.headers, json=body)


async def _refused_once(api: httpx.AsyncClient, who: Member, instagram: SimInstagram,
                        kind: RefusalKind) -> str:
    account = new_account(instagram)
    await create(api, who, account)
    instagram.world.refusals.append(Refusal(kind, action=None, username=account.username))
    answer = await _act(api, who, "like", username=account.username, media_id="m1")
    assert failure(answer, 502, "REQUEST_FAILED")["errors"]["reason"] == kind.value
    return account.username


async def test_feedback_required_blocks_that_action_for_the_cooloff(
        api: httpx.AsyncClient, member: Member, instagram: SimInstagram) -> None:
    name = await _refused_once(api, member, instagram, RefusalKind.FEEDBACK_REQUIRED)
    again = await _act(api, member, "like", username=name, media_id="m2")
    errors = failure(again, 429, "RATE_LIMIT_EXCEEDED")["errors"]
    assert errors["reason"] == "feedback_required"
    follow = await _act(api, member, "follow", username=name, target_user_id="9")
    assert follow.status_code == 200
    limits = (await api.get(f"/api/instagram/limits/{name}", headers=member.headers)).json()
    assert limits["data"]["limits"]["like"]["blocked_until"] is not None
    assert limits["data"]["limits"]["follow"]["blocked_until"] is None
    assert [a["outcome"] for a in instagram.world.actions] == ["feedback_required", "ok"]


async def test_please_wait_stops_every_write(api: httpx.AsyncClient, member: Member,
                                             instagram: SimInstagram) -> None:
    name = await _refused_once(api, member, instagram, RefusalKind.PLEASE_WAIT)
    for kind, body in (("follow", {"target_user_id": "9"}), ("comment", {"media_id": "m",
                                                                       "text": "hi"})):
        answer = await _act(api, member, kind, username=name, **body)
        assert failure(answer, 429, "RATE_LIMIT_EXCEEDED")["errors"]["reason"] == "please_wait"
    assert len(instagram.world.actions) == 1


async def test_challenge_required_stops_the_session(api: httpx.AsyncClient, member: Member,
                                                    instagram: SimInstagram) -> None:
    name = await _refused_once(api, member, instagram, RefusalKind.CHALLENGE_REQUIRED)
    answer = await _act(api, member, "follow", username=name, target_user_id="9")
    assert failure(answer, 401, "INVALID_SESSION")["errors"]["state"] == "challenge"
    assert len(instagram.world.actions) == 1


async def test_login_required_invalidates_the_session(api: httpx.AsyncClient, member: Member,
                                                      instagram: SimInstagram) -> None:
    name = await _refused_once(api, member, instagram, RefusalKind.LOGIN_REQUIRED)
    answer = await _act(api, member, "like", username=name, media_id="m2")
    assert failure(answer, 401, "INVALID_SESSION")["errors"]["state"] == "invalidated"


async def test_rate_limited_is_retried_then_reported(api: httpx.AsyncClient, member: Member,
                                                     instagram: SimInstagram) -> None:
    account = new_account(instagram)
    await create(api, member, account)
    instagram.world.refusals.append(Refusal(RefusalKind.RATE_LIMITED, times=1))
    ok = await _act(api, member, "like", username=account.username, media_id="m1")
    assert ok.status_code == 200  # the retry after the backoff went through
    instagram.world.refusals.append(Refusal(RefusalKind.RATE_LIMITED, times=None))
    answer = await _act(api, member, "like", username=account.username, media_id="m2")
    errors = failure(answer, 502, "REQUEST_FAILED")["errors"]
    assert (errors["reason"], errors["attempts"]) == ("rate_limited", 2)
    assert [a["outcome"] for a in instagram.world.actions] == [
        "rate_limited", "ok", "rate_limited", "rate_limited"]


async def test_each_block_is_reported_with_the_state_it_left(
        api: httpx.AsyncClient, member: Member, instagram: SimInstagram,
        world: Container) -> None:
    kinds = [RefusalKind.FEEDBACK_REQUIRED, RefusalKind.PLEASE_WAIT,
             RefusalKind.CHALLENGE_REQUIRED, RefusalKind.LOGIN_REQUIRED]
    names = [await _refused_once(api, member, instagram, kind) for kind in kinds]
    # Neither a rate limit nor a server error blocks the account: not reported.
    account = new_account(instagram)
    await create(api, member, account)
    instagram.world.refusals.append(Refusal(RefusalKind.SERVER_ERROR, times=None))
    await _act(api, member, "like", username=account.username, media_id="m1")
    async with world.database.reading() as uow:
        events = await uow.outbox.events_named([EventName.INSTAGRAM_ACTION_BLOCKED.value])
        sessions = [await uow.instagram_sessions.by_username(name) for name in names]
    payloads = {e.payload["username"]: e.payload for e in events}
    assert sorted(payloads) == sorted(names)
    seen = [(payloads[n]["reason"], payloads[n]["session_state"],
             payloads[n]["blocked_until"] is not None) for n in names]
    assert seen == [("feedback_required", "active", True), ("please_wait", "active", True),
                    ("challenge_required", "challenge", False),
                    ("login_required", "invalidated", False)]
    for name, session in zip(names, sessions, strict=True):
        assert session is not None
        payload = payloads[name]
        assert (payload["action"], payload["target"]) == ("like", "m1")
        assert payload["proxy_id"] == str(session.proxy_id)
        assert payload["session_state"] == session.state.value
    limits = (await api.get(f"/api/instagram/limits/{names[0]}", headers=member.headers)
              ).json()["data"]["limits"]["like"]
    assert payloads[names[0]]["blocked_until"] == limits["blocked_until"]
