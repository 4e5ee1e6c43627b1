"""The simulated Instagram: its checks, its answers, its refusals on demand, its record."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from proxyfleet.sim.instagram import PLEASE_WAIT_MESSAGE, WEB_APP_ID, SimInstagram

HEADERS = {"User-Agent": "Mozilla/5.0 test", "X-IG-App-ID": WEB_APP_ID, "X-CSRFToken": "tok"}
COOKIES = {"sessionid": "sess-1", "csrftoken": "tok"}


@pytest.fixture
async def instagram() -> AsyncIterator[SimInstagram]:
    async with SimInstagram() as sim:
        sim.register("alice", "sess-1")
        yield sim


@pytest.fixture
async def web(instagram: SimInstagram) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=instagram.base_url, headers=HEADERS,
                                 cookies=COOKIES) as client:
        yield client


async def test_session_check_names_the_user(web: httpx.AsyncClient) -> None:
    answer = await web.get("/accounts/current_user/")
    assert answer.status_code == 200
    assert answer.json()["user"]["username"] == "alice"


async def test_unknown_session_is_login_required(instagram: SimInstagram) -> None:
    async with httpx.AsyncClient(base_url=instagram.base_url, headers=HEADERS,
                                 cookies={"sessionid": "nope", "csrftoken": "tok"}) as web:
        answer = await web.post("/media/1/like/")
    assert answer.status_code == 403
    assert answer.json()["message"] == "login_required"
    assert instagram.world.likes == set()


async def test_post_without_matching_csrf_is_refused(instagram: SimInstagram) -> None:
    async with httpx.AsyncClient(base_url=instagram.base_url, cookies=COOKIES,
                                 headers={**HEADERS, "X-CSRFToken": "other"}) as web:
        answer = await web.post("/friendships/create/42/")
    assert answer.status_code == 403
    assert "CSRF" in answer.json()["message"]
    assert instagram.world.follows == set()


async def test_missing_app_id_is_refused(instagram: SimInstagram) -> None:
    async with httpx.AsyncClient(base_url=instagram.base_url, cookies=COOKIES,
                                 headers={"User-Agent": "x", "X-CSRFToken": "tok"}) as web:
        assert (await web.get("/accounts/current_user/")).status_code == 400


async def test_actions_are_done_and_recorded_with_their_peer(
        web: httpx.AsyncClient, instagram: SimInstagram) -> None:
    assert (await web.post("/friendships/create/42/")).json()["previous_following"] is False
    again = await web.post("/friendships/create/42/")
    assert again.json() == {**again.json(), "status": "ok", "previous_following": True}
    assert (await web.post("/media/m1/like/")).json()["status"] == "ok"
    comment = await web.post("/media/m1/comment/", data={"comment_text": "Great post!"})
    assert comment.json()["comment"]["text"] == "Great post!"
    async with httpx.AsyncClient(base_url=instagram.url) as control:
        actions = (await control.get("/_sim/actions")).json()
    assert [(a["action"], a["target"]) for a in actions] == [
        ("follow", "42"), ("follow", "42"), ("like", "m1"), ("comment", "m1")]
    assert {a["peer"] for a in actions} == {"127.0.0.1"}
    assert actions[-1]["text"] == "Great post!"
    assert instagram.world.likes == {("alice", "m1")}


@pytest.mark.parametrize(("kind", "status", "message"), [
    ("feedback_required", 400, "feedback_required"),
    ("please_wait", 400, PLEASE_WAIT_MESSAGE),
    ("challenge_required", 400, "challenge_required"),
    ("login_required", 403, "login_required"),
    ("rate_limited", 429, PLEASE_WAIT_MESSAGE),
])
async def test_refusals_on_demand(web: httpx.AsyncClient, instagram: SimInstagram,
                                  kind: str, status: int, message: str) -> None:
    async with httpx.AsyncClient(base_url=instagram.url) as control:
        queued = await control.post("/_sim/refusals", json={"kind": kind, "action": "like"})
        assert queued.status_code == 201
    assert (await web.post("/friendships/create/1/")).status_code == 200  # other action
    refused = await web.post("/media/m1/like/")
    assert refused.status_code == status
    assert refused.json()["message"] == message
    assert instagram.world.likes == set()
    after = await web.post("/media/m1/like/")  # one refusal queued, one used
    assert after.status_code == (403 if kind == "login_required" else 200)


async def test_server_errors_and_lasting_refusals(web: httpx.AsyncClient,
                                                  instagram: SimInstagram) -> None:
    async with httpx.AsyncClient(base_url=instagram.url) as control:
        await control.post("/_sim/refusals", json={"kind": "server_error", "status": 503,
                                                   "times": None})
        for _ in range(3):
            assert (await web.post("/media/m1/like/")).status_code == 503
        assert (await control.delete("/_sim/refusals")).status_code == 204
        assert (await web.post("/media/m1/like/")).status_code == 200
        assert (await control.post("/_sim/refusals", json={"kind": "nope"})).status_code == 400
        assert (await control.post("/_sim/reset")).status_code == 204
        assert (await control.get("/_sim/actions")).json() == []
    assert (await web.post("/media/m1/like/")).status_code == 403  # sessions forgotten too


async def test_sessions_are_registered_through_the_controls(instagram: SimInstagram) -> None:
    async with httpx.AsyncClient(base_url=instagram.url) as control:
        added = await control.post("/_sim/sessions", json={"sessions": [
            {"username": "bob", "sessionid": "sess-2"}]})
        assert added.json() == {"sessions": 2}
    async with httpx.AsyncClient(base_url=instagram.base_url, headers=HEADERS,
                                 cookies={"sessionid": "sess-2"}) as web:
        assert (await web.get("/accounts/current_user/")).json()["user"]["username"] == "bob"


@pytest.mark.slow
def test_the_command_serves_it() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "proxyfleet", "sim", "instagram",
                                "--port", str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/_sim/actions", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the simulated Instagram did not start"
                time.sleep(0.1)
        assert answer.json() == []
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_the_command_refuses_a_public_address() -> None:
    refused = subprocess.run([sys.executable, "-m", "proxyfleet", "sim", "instagram",
                              "--host", "0.0.0.0"], capture_output=True, text=True,
                             timeout=60, check=False)
    assert refused.returncode == 2
    assert "loopback only" in refused.stderr
