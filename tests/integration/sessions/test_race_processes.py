"""Two `proxyfleet serve` processes on one database race 50 likes of one account that has 10
left: exactly 10 are performed (and reach Instagram), 40 are refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from proxyfleet.bootstrap import Container
from proxyfleet.sim.instagram import SimInstagram
from tests.conftest import Member
from tests.integration.sessions.conftest import new_account
from tests.integration.sessions.test_api import create
from tests.integration.test_process import running_server

pytestmark = pytest.mark.slow


async def test_two_servers_racing_50_likes_with_10_left_perform_exactly_10(
        api: httpx.AsyncClient, member: Member, world: Container, instagram: SimInstagram,
        tmp_path: Path, database_url: str, redis_url: str | None) -> None:
    account = new_account(instagram)
    await create(api, member, account, limits={"like": 12})
    for media in ("before-1", "before-2"):
        answer = await api.post("/api/instagram/like", headers=member.headers,
                                json={"username": account.username, "media_id": media})
        assert answer.status_code == 200
    env = {"PROXYFLEET_INSTAGRAM_BASE_URL": instagram.base_url,
           "PROXYFLEET_INSTAGRAM_MAX_ATTEMPTS": "1"}
    data = tmp_path / "shared"
    with running_server(data, database_url, redis_url, env) as first, \
            running_server(data, database_url, redis_url, env) as second:
        async with httpx.AsyncClient(timeout=60) as http:
            answers = await asyncio.gather(*(
                http.post(f"{(first, second)[i % 2]}/api/instagram/like",
                          headers=member.headers,
                          json={"username": account.username, "media_id": f"race-{i}"})
                for i in range(50)))
    statuses = [answer.status_code for answer in answers]
    assert statuses.count(200) == 10, statuses
    assert statuses.count(429) == 40
    likes = [a for a in instagram.world.actions if a["target"].startswith("race-")]
    assert len(likes) == 10
    limits = await api.get(f"/api/instagram/limits/{account.username}", headers=member.headers)
    like = limits.json()["data"]["limits"]["like"]
    assert (like["used"], like["remaining"]) == (12, 0)
