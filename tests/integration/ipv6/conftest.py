"""Fixtures of the IPv6 egress tests: the real test network, a container configured for it
(one prefix on the veth's root end, the mode under test), its API client and an admin."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from proxyfleet import bootstrap
from proxyfleet.api.app import create_app
from proxyfleet.core.accounts import Role
from proxyfleet.gateway.egress import EgressMode
from proxyfleet.settings import Settings
from tests.conftest import Member, _empty_tables
from tests.integration.ipv6.network import EgressNetwork, NetworkUnavailable, egress_network

V4_ONLY_NAME = "v4only.test"
TARGET_NAME = "target.test"


class Zone:
    """A resolver with fixed records, so the tests control which names have AAAA records
    without touching the host's resolver configuration."""

    def __init__(self, records: dict[tuple[str, socket.AddressFamily], list[str]]) -> None:
        self._records = records

    async def addresses(self, host: str, family: socket.AddressFamily) -> list[str]:
        found = self._records.get((host, family))
        if not found:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return found


def zone_for(network: EgressNetwork) -> Zone:
    return Zone({(TARGET_NAME, socket.AF_INET6): [network.target_address],
                 (TARGET_NAME, socket.AF_INET): ["192.0.2.20"],
                 (V4_ONLY_NAME, socket.AF_INET): ["192.0.2.10"]})


@pytest.fixture
def network() -> Iterator[EgressNetwork]:
    try:
        with egress_network() as built:
            yield built
    except NetworkUnavailable as exc:
        pytest.fail(f"cannot build the test network (root and iproute2 are needed): {exc}")


def egress_settings(settings: Settings, network: EgressNetwork, mode: EgressMode,
                    prefix: str | None = None) -> Settings:
    return settings.model_copy(update={
        "ipv6_prefixes": {network.root_link: prefix or str(network.prefix)},
        "ipv6_mode": mode, "scheduler_enabled": False})


async def start_container(settings: Settings, network: EgressNetwork) -> bootstrap.Container:
    built = bootstrap.build(settings)
    built.instances = bootstrap.build_instances(settings, built.database, zone_for(network))
    await built.start()
    return built


@pytest.fixture(params=list(EgressMode), ids=[mode.value for mode in EgressMode])
def mode(request: pytest.FixtureRequest) -> EgressMode:
    found: EgressMode = request.param
    return found


@pytest.fixture
def ipv6_settings(settings: Settings, network: EgressNetwork, mode: EgressMode) -> Settings:
    return egress_settings(settings, network, mode)


@pytest.fixture
async def ipv6_container(ipv6_settings: Settings,
                         network: EgressNetwork) -> AsyncIterator[bootstrap.Container]:
    await _empty_tables(ipv6_settings.effective_database_url)
    built = await start_container(ipv6_settings, network)
    try:
        yield built
    finally:
        await built.close()


@pytest.fixture
async def api(ipv6_container: bootstrap.Container) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(ipv6_container))
    async with httpx.AsyncClient(transport=transport, base_url="http://proxyfleet.test") as c:
        yield c


@pytest.fixture
async def ipv6_admin(ipv6_container: bootstrap.Container) -> Member:
    user, issued = await ipv6_container.accounts.register(
        f"admin-{uuid.uuid4().hex[:8]}@example.com", "Admin", Role.ADMIN)
    return Member(str(user.id), issued.raw, str(issued.key.id))
