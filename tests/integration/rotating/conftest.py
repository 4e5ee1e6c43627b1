"""A simulated pool for the gateway tests: a farm on loopback (live, dead, slow and failing
proxies) put in the inventory as checked and healthy, the rotation service loaded with it,
a target on loopback, and the gateway itself on a free port."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select, update

from proxyfleet import bootstrap
from proxyfleet.accounts.service import AccountsService
from proxyfleet.bootstrap import Container
from proxyfleet.core.clock import utcnow
from proxyfleet.core.proxies import ProxyAddress, ProxyOrigin, ProxyProtocol
from proxyfleet.rotating.service import GatewayService
from proxyfleet.sim.farm import Behaviour, Farm, FarmSpec
from proxyfleet.storage.tables import ProxyRow
from tests.integration.rotating.target import Target, target_on

HTTP, HTTPS, SOCKS5 = ProxyProtocol.HTTP, ProxyProtocol.HTTPS, ProxyProtocol.SOCKS5
# Live exits of every tunnel kind, one with a login; dead, slow and failing ones among them.
POOL = {
    (HTTP, Behaviour.ELITE): 2, (SOCKS5, Behaviour.ELITE): 2, (HTTPS, Behaviour.ELITE): 1,
    (SOCKS5, Behaviour.AUTH): 1, (HTTP, Behaviour.DEAD): 2, (SOCKS5, Behaviour.DEAD): 1,
    (HTTP, Behaviour.SLOW): 1, (SOCKS5, Behaviour.FLAKY): 1,
}
LIVE = {Behaviour.ELITE, Behaviour.AUTH, Behaviour.SLOW}
BAD = sum(n for (_, behaviour), n in POOL.items() if behaviour not in LIVE)
# Every exit that can carry a request: a failing one carries some.
CARRYING = LIVE | {Behaviour.FLAKY}


@dataclass
class Pool:
    """The farm as the inventory knows it: proxy id by farm index, and back."""

    farm: Farm
    ids: dict[int, uuid.UUID]

    def index_of_egress(self, egress: str) -> int:
        return next(m.index for m in self.farm.members if m.egress == egress)

    def id_of_egress(self, egress: str) -> uuid.UUID:
        return self.ids[self.index_of_egress(egress)]

    def egresses(self, behaviours: set[Behaviour]) -> set[str]:
        return {m.egress for m in self.farm.members if m.behaviour in behaviours}

    def indexes(self, behaviour: Behaviour) -> list[int]:
        return [m.index for m in self.farm.members if m.behaviour is behaviour]


async def seed_farm(container: Container, farm: Farm, **fields: Any) -> dict[int, uuid.UUID]:
    """Put every farm proxy in the inventory as a checked, healthy one (the checker's verdict
    is not what these tests are about), and load the rotation service with them."""
    ids = await seed_proxies(container, [m.address for m in farm.members], **fields)
    return {member.index: proxy_id for member, proxy_id in zip(farm.members, ids, strict=True)}


async def seed_proxies(container: Container, addresses: list[ProxyAddress],
                       **fields: Any) -> list[uuid.UUID]:
    """`addresses` in the inventory as checked, healthy proxies, the rotation service loaded
    with them; their ids, in order."""
    await container.inventory.add(addresses, ProxyOrigin.MANUAL)
    values = {"status": "active", "score": 0.9, "uptime_pct": 100.0, "avg_latency_ms": 20.0,
              "anonymity": "elite", "country": "US", "health_window": "1" * 10,
              "last_checked_at": utcnow(), "last_alive_at": utcnow()} | fields
    async with container.database.engines.writer.begin() as conn:
        await conn.execute(update(ProxyRow).values(**values))
        ids = [(await conn.execute(select(ProxyRow.id).where(
            ProxyRow.host == address.host, ProxyRow.port == address.port,
            ProxyRow.protocol == address.protocol.value))).scalar_one()
            for address in addresses]
    await container.rotation.refresh()
    return ids


@pytest.fixture
async def farm() -> AsyncIterator[Farm]:
    async with Farm(FarmSpec(counts=POOL, slow_delay=0.2, flaky_fraction=0.5)) as running:
        yield running


@pytest.fixture
async def pool(container: Container, farm: Farm) -> Pool:
    return Pool(farm, await seed_farm(container, farm))


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    async with target_on("127.0.0.1") as running:
        yield running


@contextlib.asynccontextmanager
async def running_gateway(container: Container, *, accounts: AccountsService | None = None,
                          **settings: Any) -> AsyncIterator[GatewayService]:
    """A gateway on a free loopback port over the container's services (its own `accounts`
    if given; and the container's Redis, when the run has one), `settings` changed."""
    # One failover attempt more than there are bad exits: a request finds a live one
    # whatever the order of the rotation.
    changed = container.settings.model_copy(update={
        "gateway_port": 0, "gateway_flush_seconds": 0.2,
        "gateway_failover_attempts": BAD + 1} | settings)
    service = bootstrap.build_gateway(changed, container.database,
                                      accounts or container.accounts,
                                      container.rotation, container.redis,
                                      owned=container.shop, metrics=container.metrics)
    await service.start()
    try:
        yield service
    finally:
        await service.close()


@pytest.fixture
async def gateway(container: Container, pool: Pool) -> AsyncIterator[GatewayService]:
    async with running_gateway(container) as service:
        yield service
