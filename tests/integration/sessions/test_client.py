"""InstagramClient against the simulated Instagram: cookies, CSRF and user agent sent, answers
told apart, backoff on 429 and 5xx bounded, and the request leaving through the proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from proxyfleet.core.instagram import Refusal
from proxyfleet.core.proxies import ProxyProtocol
from proxyfleet.sessions.client import ClientPolicy, Identity, InstagramClient
from proxyfleet.sim.farm import Behaviour, Farm, FarmSpec
from proxyfleet.sim.instagram import Refusal as SimRefusal
from proxyfleet.sim.instagram import RefusalKind, SimInstagram

ALICE = Identity({"sessionid": "sess-a", "csrftoken": "tok-a"}, "Mozilla/5.0 alice")


@pytest.fixture
async def instagram() -> AsyncIterator[SimInstagram]:
    async with SimInstagram() as sim:
        sim.register("alice", "sess-a")
        yield sim


class Pauses:
    """Records the backoff pauses instead of sleeping them."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


@pytest.fixture
async def pauses() -> Pauses:
    return Pauses()


@pytest.fixture
async def client(instagram: SimInstagram, pauses: Pauses) -> AsyncIterator[InstagramClient]:
    made = InstagramClient(ClientPolicy(instagram.base_url, timeout_seconds=10),
                           sleep=pauses, uniform=lambda low, high: high)
    yield made
    await made.close()


async def test_actions_carry_cookies_csrf_and_user_agent(
        client: InstagramClient, instagram: SimInstagram) -> None:
    assert (await client.check_session(ALICE)).body["user"]["username"] == "alice"
    assert (await client.follow_user(ALICE, "42")).ok
    assert (await client.like_post(ALICE, "m_1")).ok
    comment = await client.comment_post(ALICE, "m1", "Great post!")
    assert comment.ok
    assert comment.body["comment"]["text"] == "Great post!"
    assert [(a["action"], a["target"], a["user_agent"]) for a in instagram.world.actions] == [
        ("check", None, "Mozilla/5.0 alice"), ("follow", "42", "Mozilla/5.0 alice"),
        ("like", "m_1", "Mozilla/5.0 alice"), ("comment", "m1", "Mozilla/5.0 alice")]


async def test_a_wrong_csrf_token_is_a_rejection(client: InstagramClient) -> None:
    outcome = await client.like_post(Identity({"sessionid": "sess-a"}, "ua"), "m1")
    assert (outcome.refusal, outcome.status) == (Refusal.REJECTED, 403)


@pytest.mark.parametrize(("kind", "refusal"), [
    (RefusalKind.FEEDBACK_REQUIRED, Refusal.FEEDBACK_REQUIRED),
    (RefusalKind.PLEASE_WAIT, Refusal.PLEASE_WAIT),
    (RefusalKind.CHALLENGE_REQUIRED, Refusal.CHALLENGE_REQUIRED),
    (RefusalKind.LOGIN_REQUIRED, Refusal.LOGIN_REQUIRED),
])
async def test_refusals_are_told_apart_and_not_retried(
        client: InstagramClient, instagram: SimInstagram, pauses: Pauses,
        kind: RefusalKind, refusal: Refusal) -> None:
    instagram.world.refusals.append(SimRefusal(kind, times=None))
    outcome = await client.like_post(ALICE, "m1")
    assert (outcome.refusal, outcome.attempts) == (refusal, 1)
    assert pauses.seconds == []


async def test_transient_5xx_is_retried_after_a_backoff(
        client: InstagramClient, instagram: SimInstagram, pauses: Pauses) -> None:
    instagram.world.refusals.append(SimRefusal(RefusalKind.SERVER_ERROR, times=2, status=502))
    outcome = await client.like_post(ALICE, "m1")
    assert outcome.ok
    assert outcome.attempts == 3
    assert pauses.seconds == [0.5, 1.0]
    assert ("alice", "m1") in instagram.world.likes


@pytest.mark.parametrize("kind", [RefusalKind.RATE_LIMITED, RefusalKind.SERVER_ERROR])
async def test_backoff_is_bounded(instagram: SimInstagram, pauses: Pauses,
                                  kind: RefusalKind) -> None:
    instagram.world.refusals.append(SimRefusal(kind, times=None, status=503))
    client = InstagramClient(ClientPolicy(instagram.base_url, max_attempts=6,
                                          backoff_base_seconds=1, backoff_cap_seconds=4),
                             sleep=pauses, uniform=lambda low, high: high)
    try:
        outcome = await client.like_post(ALICE, "m1")
    finally:
        await client.close()
    expected = Refusal.RATE_LIMITED if kind is RefusalKind.RATE_LIMITED else \
        Refusal.SERVER_ERROR
    assert (outcome.refusal, outcome.attempts) == (expected, 6)
    assert pauses.seconds == [1, 2, 4, 4, 4]
    assert len(instagram.world.actions) == 6


async def test_no_answer_is_unreachable(pauses: Pauses) -> None:
    client = InstagramClient(ClientPolicy("http://127.0.0.1:1/api/v1"), sleep=pauses)
    try:
        outcome = await client.like_post(ALICE, "m1")
    finally:
        await client.close()
    assert (outcome.refusal, outcome.status) == (Refusal.UNREACHABLE, None)
    assert pauses.seconds == []


async def test_the_request_leaves_through_the_proxy(client: InstagramClient,
                                                    instagram: SimInstagram) -> None:
    spec = FarmSpec(counts={(ProxyProtocol.HTTP, Behaviour.AUTH): 1,
                            (ProxyProtocol.HTTP, Behaviour.ELITE): 1})
    async with Farm(spec) as farm:
        for member in farm.members:
            who = Identity(ALICE.cookies, ALICE.user_agent, member.address)
            assert (await client.follow_user(who, f"via-{member.index}")).ok
    peers = {a["target"]: a["peer"] for a in instagram.world.actions}
    assert peers == {f"via-{m.index}": m.egress for m in farm.members}
    assert len(set(peers.values())) == 2
    assert "127.0.0.1" not in peers.values()
