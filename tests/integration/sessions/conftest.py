"""The world an Instagram test runs in: the simulated Instagram, a farm of HTTP proxies on
their own loopback addresses (each egressing from another), those proxies in the inventory as
the manager's private proxies, and proxyfleet configured to use them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, insert, literal, select, update

from proxyfleet import bootstrap
from proxyfleet.core.proxies import ProxyProtocol
from proxyfleet.settings import Settings
from proxyfleet.sim.farm import Behaviour, Farm, FarmProxy, FarmSpec
from proxyfleet.sim.instagram import SimInstagram
from proxyfleet.storage.numbers import PROXY_NUMBERS
from proxyfleet.storage.tables import IdSequenceRow, ProxyRow
from tests.conftest import _empty_tables
from tests.integration.pool.seeding import seed

PROXIES = 4
USER_AGENT = "Mozilla/5.0 (proxyfleet test)"


@pytest.fixture
async def instagram() -> AsyncIterator[SimInstagram]:
    async with SimInstagram() as sim:
        yield sim


@pytest.fixture
async def farm() -> AsyncIterator[Farm]:
    spec = FarmSpec(counts={(ProxyProtocol.HTTP, Behaviour.ELITE): PROXIES},
                    listen_prefix="127.81", egress_prefix="127.82")
    async with Farm(spec) as running:
        yield running


def instagram_settings(settings: Settings, instagram: SimInstagram, **extra: Any) -> Settings:
    return settings.model_copy(update={
        "instagram_base_url": instagram.base_url, "instagram_backoff_base_seconds": 0.0,
        "instagram_max_attempts": 2, "checking_enabled": False, **extra})


@pytest.fixture
def ig_settings(settings: Settings, instagram: SimInstagram) -> Settings:
    return instagram_settings(settings, instagram)


@pytest.fixture
async def container(ig_settings: Settings, farm: Farm) -> AsyncIterator[bootstrap.Container]:
    """Here the container every fixture shares (`client`, `member`, `admin`) is a started
    one whose inventory holds the farm as manager private proxies, configured for the
    simulated Instagram."""
    await _empty_tables(ig_settings.effective_database_url)
    built = bootstrap.build(ig_settings)
    await built.start()
    try:
        await add_private_proxies(built, farm.members)
        yield built
    finally:
        await built.close()


async def add_private_proxies(container: bootstrap.Container, members: list[FarmProxy],
                              first_number: int = 1) -> None:
    await seed(container, [m.address for m in members], status="active", score=0.9)
    async with container.database.engines.writer.begin() as conn:
        for n, member in enumerate(members, first_number):
            await conn.execute(update(ProxyRow).where(ProxyRow.host == member.address.host)
                               .values(number=n, shared=False, is_active=True))
        # The numbers given here are taken: the manager numbers the next proxy after them.
        await conn.execute(delete(IdSequenceRow).where(IdSequenceRow.name == PROXY_NUMBERS))
        await conn.execute(insert(IdSequenceRow).from_select(
            ["name", "value"], select(literal(PROXY_NUMBERS), func.max(ProxyRow.number))))
    await container.rotation.refresh()


@pytest.fixture
def world(container: bootstrap.Container) -> bootstrap.Container:
    return container


@pytest.fixture
def api(client: httpx.AsyncClient) -> httpx.AsyncClient:
    return client


@dataclass
class Account:
    username: str
    sessionid: str

    def body(self, **extra: Any) -> dict[str, Any]:
        return {"username": self.username, "session_id": f"sid-{self.sessionid}",
                "cookies": {"sessionid": self.sessionid}, "user_agent": USER_AGENT, **extra}


def new_account(instagram: SimInstagram, name: str | None = None) -> Account:
    """An account logged in at the simulated Instagram."""
    account = Account(name or f"acct_{uuid.uuid4().hex[:8]}", f"sess-{uuid.uuid4().hex}")
    instagram.register(account.username, account.sessionid)
    return account


def egress_of(farm: Farm, proxy_number: int) -> str:
    """The exit address of the farm proxy that got seed-000 id `proxy_number`."""
    return farm.members[proxy_number - 1].egress
