"""Each account goes out through one proxy: at most N accounts per proxy, sticky, moved only
when the proxy dies (never in a challenge), counted in the proxy's counters, and a proxy
through which several accounts were blocked is disabled for sessions."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
from sqlalchemy import select, update

from proxyfleet.bootstrap import Container
from proxyfleet.core.events import EventName
from proxyfleet.sim.farm import Farm
from proxyfleet.sim.instagram import Refusal, RefusalKind, SimInstagram
from proxyfleet.storage.tables import InstagramSuspectRow, ProxyRow
from tests.conftest import Member
from tests.integration.notify.helpers import add_webhook, worker
from tests.integration.notify.receiver import receiving
from tests.integration.sessions.conftest import PROXIES, egress_of, new_account
from tests.integration.sessions.test_api import create, failure


async def test_at_most_three_accounts_per_proxy(api: httpx.AsyncClient, member: Member,
                                                instagram: SimInstagram) -> None:
    pinned = [(await create(api, member, new_account(instagram)))["proxy"]["id"]
              for _ in range(PROXIES * 3)]
    assert Counter(pinned) == dict.fromkeys(range(1, PROXIES + 1), 3)
    answer = await api.post("/api/instagram/session", headers=member.headers,
                            json=new_account(instagram).body())
    failure(answer, 503, "NO_PROXY_AVAILABLE")


async def test_a_given_proxy_is_used_until_full(api: httpx.AsyncClient, member: Member,
                                                instagram: SimInstagram,
                                                world: Container) -> None:
    for _ in range(3):
        session = await create(api, member, new_account(instagram), proxy_id=2)
        assert session["proxy"]["id"] == 2
    full = await api.post("/api/instagram/session", headers=member.headers,
                          json=new_account(instagram).body(proxy_id=2))
    assert "proxy_id" in failure(full, 422, "VALIDATION_ERROR")["errors"]
    unknown = await api.post("/api/instagram/session", headers=member.headers,
                             json=new_account(instagram).body(proxy_id=99))
    assert "proxy_id" in failure(unknown, 422, "VALIDATION_ERROR")["errors"]
    async with world.database.engines.writer.begin() as conn:
        await conn.execute(update(ProxyRow).where(ProxyRow.number == 4)
                           .values(protocol="socks5"))
    socks = await api.post("/api/instagram/session", headers=member.headers,
                           json=new_account(instagram).body(proxy_id=4))
    assert "proxy_id" in failure(socks, 422, "VALIDATION_ERROR")["errors"]


async def test_actions_stay_on_the_proxy_and_count_in_its_counters(
        api: httpx.AsyncClient, member: Member, instagram: SimInstagram, farm: Farm,
        world: Container) -> None:
    account = new_account(instagram)
    number = (await create(api, member, account))["proxy"]["id"]
    for i in range(5):
        answer = await api.post("/api/instagram/like", headers=member.headers,
                                json={"username": account.username, "media_id": f"m{i}"})
        assert answer.status_code == 200
    assert {a["peer"] for a in instagram.world.actions} == {egress_of(farm, number)}
    await world.rotation.flush()
    async with world.database.engines.reader.connect() as conn:
        total = await conn.scalar(select(ProxyRow.total_requests)
                                  .where(ProxyRow.number == number))
    assert total == 5


async def test_the_session_moves_when_its_proxy_dies(
        api: httpx.AsyncClient, member: Member, instagram: SimInstagram, farm: Farm,
        world: Container) -> None:
    account = new_account(instagram)
    first = (await create(api, member, account))["proxy"]["id"]
    await _set_status(world, first, "dead")
    answer = await api.post("/api/instagram/like", headers=member.headers,
                            json={"username": account.username, "media_id": "m1"})
    assert answer.status_code == 200
    moved = answer.json()["data"]["proxy"]["id"]
    assert moved != first
    assert instagram.world.actions[-1]["peer"] == egress_of(farm, moved)
    again = await api.post("/api/instagram/like", headers=member.headers,
                           json={"username": account.username, "media_id": "m2"})
    assert again.json()["data"]["proxy"]["id"] == moved  # sticky on the new one


async def test_a_challenged_session_is_never_moved(
        api: httpx.AsyncClient, member: Member, instagram: SimInstagram,
        world: Container) -> None:
    account = new_account(instagram)
    first = (await create(api, member, account))["proxy"]["id"]
    instagram.world.refusals.append(Refusal(RefusalKind.CHALLENGE_REQUIRED))
    await api.post("/api/instagram/like", headers=member.headers,
                   json={"username": account.username, "media_id": "m1"})
    await _set_status(world, first, "dead")
    answer = await api.post("/api/instagram/like", headers=member.headers,
                            json={"username": account.username, "media_id": "m2"})
    failure(answer, 401, "INVALID_SESSION")
    async with world.database.engines.reader.connect() as conn:
        still = await conn.scalar(select(ProxyRow.number).where(
            ProxyRow.id == select(ProxyRow.id).where(ProxyRow.number == first)
            .scalar_subquery()))
    assert still == first
    session = await world.instagram.quotas.limits(account.username)
    assert session  # the account is still known, its session stopped on its proxy


async def test_no_usable_proxy_fails_clearly(api: httpx.AsyncClient, member: Member,
                                             instagram: SimInstagram, world: Container) -> None:
    account = new_account(instagram)
    await create(api, member, account)
    for number in range(1, PROXIES + 1):
        await _set_status(world, number, "dead")
    answer = await api.post("/api/instagram/like", headers=member.headers,
                            json={"username": account.username, "media_id": "m1"})
    failure(answer, 503, "NO_PROXY_AVAILABLE")
    assert instagram.world.actions == []


async def test_several_blocked_accounts_make_the_proxy_a_suspect(
        api: httpx.AsyncClient, member: Member, admin: Member, instagram: SimInstagram,
        farm: Farm, world: Container) -> None:
    accounts = [new_account(instagram) for _ in range(3)]
    for account in accounts:
        await create(api, member, account, proxy_id=1)
    async with receiving() as receiver:
        await add_webhook(api, admin, receiver.url, ["instagram.*"])
        for account in accounts[:2]:
            instagram.world.refusals.append(Refusal(RefusalKind.FEEDBACK_REQUIRED,
                                                    username=account.username))
            answer = await api.post("/api/instagram/like", headers=member.headers,
                                    json={"username": account.username, "media_id": "m1"})
            failure(answer, 502, "REQUEST_FAILED")
        await worker(world).run_once()
        assert await worker(world).run_once() == 0  # nothing left to send again
    async with world.database.engines.reader.connect() as conn:
        suspects = list(await conn.scalars(select(InstagramSuspectRow.blocked_accounts)))
        proxy_id = await conn.scalar(select(ProxyRow.id).where(ProxyRow.number == 1))
    assert suspects == [2]
    names = sorted(a.username for a in accounts[:2])
    [reported] = [r.document for r in receiver.received
                  if r.document["event"] == "instagram.proxy_suspect"]
    assert reported["payload"] == {
        "proxy_id": str(proxy_id), "proxy_number": 1, "usernames": names,
        "blocked_accounts": 2, "window_minutes": 60.0,
        "since": reported["payload"]["since"]}
    blocked = [r.document["payload"] for r in receiver.received
               if r.document["event"] == "instagram.action_blocked"]
    assert sorted(b["username"] for b in blocked) == names
    assert {(b["reason"], b["proxy_number"], b["session_state"]) for b in blocked} == {
        ("feedback_required", 1, "active")}
    assert len(receiver.received) == 3  # each event delivered once
    third = await api.post("/api/instagram/like", headers=member.headers,
                           json={"username": accounts[2].username, "media_id": "m1"})
    assert third.status_code == 200
    assert third.json()["data"]["proxy"]["id"] != 1
    assert instagram.world.actions[-1]["peer"] != egress_of(farm, 1)
    newcomer = await create(api, member, new_account(instagram))
    assert newcomer["proxy"]["id"] != 1


async def test_accounts_blocked_at_once_report_the_proxy_once(
        api: httpx.AsyncClient, member: Member, instagram: SimInstagram,
        world: Container) -> None:
    accounts = [new_account(instagram) for _ in range(3)]
    for account in accounts:
        await create(api, member, account, proxy_id=1)
        instagram.world.refusals.append(Refusal(RefusalKind.CHALLENGE_REQUIRED,
                                                username=account.username))
    answers = await asyncio.gather(*(
        api.post("/api/instagram/like", headers=member.headers,
                 json={"username": account.username, "media_id": "m1"})
        for account in accounts))
    for answer in answers:
        failure(answer, 502, "REQUEST_FAILED")
    async with world.database.reading() as uow:
        reported = await uow.outbox.events_named([EventName.INSTAGRAM_PROXY_SUSPECT.value])
        blocked = await uow.outbox.events_named([EventName.INSTAGRAM_ACTION_BLOCKED.value])
    assert len(reported) == 1
    assert reported[0].payload["blocked_accounts"] >= 2
    assert sorted(e.payload["username"] for e in blocked) == sorted(
        a.username for a in accounts)


async def _set_status(world: Container, number: int, status: str) -> None:
    async with world.database.engines.writer.begin() as conn:
        await conn.execute(update(ProxyRow).where(ProxyRow.number == number)
                           .values(status=status))
    await world.rotation.refresh()


async def test_a_disabled_proxy_carries_no_session(
        api: httpx.AsyncClient, member: Member, admin: Member, instagram: SimInstagram,
        farm: Farm) -> None:
    account = new_account(instagram)
    moving = await create(api, member, account, proxy_id=2)
    for number in (1, 2):
        disabled = await api.patch(f"/api/proxies/{number}/status", headers=admin.headers,
                                   json={"status": "disabled"})
        assert disabled.status_code == 200, disabled.text
    pinned = [(await create(api, member, new_account(instagram)))["proxy"]["id"]
              for _ in range(5)]
    assert set(pinned) == {3, 4}  # room for 6 there; never on a disabled one
    answer = await api.post("/api/instagram/like", headers=member.headers,
                            json={"username": account.username, "media_id": "m1"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["proxy"]["id"] in {3, 4} and moving["proxy"]["id"] == 2
    assert instagram.world.actions[-1]["peer"] not in {egress_of(farm, 1), egress_of(farm, 2)}


async def test_sessions_follow_the_rotation_settings(
        api: httpx.AsyncClient, member: Member, admin: Member, instagram: SimInstagram,
        farm: Farm) -> None:
    """Sessions take their proxy from the one rotation service: its hourly budget holds
    them too (the session waits for its proxy, never leaves it)."""
    account = new_account(instagram)
    number = (await create(api, member, account))["proxy"]["id"]
    changed = await api.put("/api/proxies/rotation", headers=admin.headers,
                            json={"hourly_budget": 1})
    assert changed.status_code == 200, changed.text
    first = await api.post("/api/instagram/like", headers=member.headers,
                           json={"username": account.username, "media_id": "m1"})
    assert first.status_code == 200, first.text
    second = await api.post("/api/instagram/like", headers=member.headers,
                            json={"username": account.username, "media_id": "m2"})
    failure(second, 503, "NO_PROXY_AVAILABLE")
    assert [a["peer"] for a in instagram.world.actions] == [egress_of(farm, number)]


async def test_an_action_turned_away_before_instagram_spends_none_of_the_budget(
        api: httpx.AsyncClient, member: Member, admin: Member, instagram: SimInstagram,
        farm: Farm) -> None:
    """A like done already is answered without reaching Instagram: the pick made for it is
    given back, so the proxy's hourly budget is left for the actions that go out."""
    account = new_account(instagram)
    number = (await create(api, member, account))["proxy"]["id"]
    changed = await api.put("/api/proxies/rotation", headers=admin.headers,
                            json={"hourly_budget": 2})
    assert changed.status_code == 200, changed.text
    likes = [await api.post("/api/instagram/like", headers=member.headers,
                            json={"username": account.username, "media_id": media})
             for media in ("m1", "m1", "m1", "m1", "m2")]
    assert [answer.status_code for answer in likes] == [200] * 5, likes[-1].text
    assert [answer.json()["data"]["already_done"] for answer in likes] == [
        False, True, True, True, False]
    assert [a["peer"] for a in instagram.world.actions] == [egress_of(farm, number)] * 2
    third = await api.post("/api/instagram/like", headers=member.headers,
                           json={"username": account.username, "media_id": "m3"})
    failure(third, 503, "NO_PROXY_AVAILABLE")  # the budget holds for what goes out


async def test_an_action_over_its_quota_spends_none_of_the_budget(
        api: httpx.AsyncClient, member: Member, admin: Member, instagram: SimInstagram,
        farm: Farm) -> None:
    """A like refused for the account's own quota never reaches Instagram: its pick is
    given back too, and the budget is left for a follow."""
    account = new_account(instagram)
    number = (await create(api, member, account, limits={"like": 1}))["proxy"]["id"]
    changed = await api.put("/api/proxies/rotation", headers=admin.headers,
                            json={"hourly_budget": 2})
    assert changed.status_code == 200, changed.text

    async def like(media: str) -> httpx.Response:
        return await api.post("/api/instagram/like", headers=member.headers,
                              json={"username": account.username, "media_id": media})

    assert (await like("m1")).status_code == 200
    for media in ("m2", "m3"):
        assert failure(await like(media), 429, "RATE_LIMIT_EXCEEDED")["errors"][
            "reason"] == "daily_limit"
    followed = await api.post("/api/instagram/follow", headers=member.headers,
                              json={"username": account.username, "target_user_id": "1"})
    assert followed.status_code == 200, followed.text
    assert [a["peer"] for a in instagram.world.actions] == [egress_of(farm, number)] * 2
