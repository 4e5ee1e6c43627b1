"""The shop's world: a simulated upstream provider and a judge on loopback, and settings that
point proxyfleet at them (scheduler off: tests drive syncs themselves)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from proxyfleet.bootstrap import Container
from proxyfleet.core.accounts import Currency
from proxyfleet.settings import Settings
from proxyfleet.sim.judge import Judge
from proxyfleet.sim.upstream import UpstreamSim
from tests.conftest import TEST_SECRET, Member, register

PRICE_CENTS = 200


@pytest.fixture
async def upstream() -> AsyncIterator[UpstreamSim]:
    async with UpstreamSim(40, seed=7) as sim:
        yield sim


@pytest.fixture
async def judge_server() -> AsyncIterator[Judge]:
    async with Judge() as running:
        yield running


@pytest.fixture
def settings(database_url: str, redis_url: str | None, tmp_path: Path, upstream: UpstreamSim,
             judge_server: Judge) -> Settings:
    return Settings(database_url=database_url, redis_url=redis_url, data_dir=tmp_path,
                    secret_key=TEST_SECRET, redis_prefix=f"pftest:{uuid.uuid4().hex[:8]}:",
                    shop_upstream_url=upstream.url, shop_upstream_token=upstream.token,
                    shop_upstream_timeout_seconds=2.0, shop_own_check_timeout_seconds=2.0,
                    judge_url=judge_server.url, scheduler_enabled=False)


async def funded(client: httpx.AsyncClient, admin: Member, cents: int) -> Member:
    """A new user with `cents` on their usd balance."""
    member = await register(client)
    if cents:
        response = await client.post(f"/admin/users/{member.id}/grants", headers=admin.headers,
                                     json={"currency": "usd", "amount": cents})
        assert response.status_code in (200, 201), response.text
    return member


async def usd(container: Container, member: Member) -> int:
    return (await container.accounts.account(uuid.UUID(member.id))).balances[Currency.USD]


async def synced(client: httpx.AsyncClient, admin: Member) -> dict[str, object]:
    response = await client.post("/api/external-proxy/sync", headers=admin.headers, json={})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def listed(client: httpx.AsyncClient, member: Member, **params: object) -> dict[str, object]:
    response = await client.get("/api/external-proxy/list", headers=member.headers,
                                params={"page_size": 500, **params})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def bought(client: httpx.AsyncClient, admin: Member, buyer: Member,
                 product: dict[str, object] | None = None) -> dict[str, object]:
    """The order of a purchase by `buyer`: of `product`, or of the first one listed after a
    sync."""
    if product is None:
        await synced(client, admin)
        product = (await listed(client, buyer))["proxies"][0]  # type: ignore[index]
    response = await client.post("/api/external-proxy/purchase", headers=buyer.headers,
                                 json={"product_id": product["product_id"]})
    assert response.status_code == 200, response.text
    order: dict[str, object] = response.json()
    return order
