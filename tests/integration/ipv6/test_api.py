"""The 004 surface's contract: its error shape and statuses, bulk delete, stats and health."""

from __future__ import annotations

import contextlib

import httpx
import pytest

from proxyfleet import bootstrap
from proxyfleet.api.app import create_app
from proxyfleet.gateway.egress import AssignEgress, EgressMode, IpCommandFailed
from proxyfleet.gateway.instances import InstancePolicy, InstancesService
from proxyfleet.settings import Settings
from tests.conftest import Member
from tests.integration.ipv6.conftest import egress_settings, start_container, zone_for
from tests.integration.ipv6.network import EgressNetwork, NetworkUnavailable, ip, random_prefix

pytestmark = pytest.mark.parametrize("mode", [EgressMode.ANYIP], ids=["anyip"])


async def test_interface_is_required(api: httpx.AsyncClient, ipv6_admin: Member) -> None:
    response = await api.post("/api/create_proxy", headers=ipv6_admin.headers,
                              json={"type": "http"})
    assert response.status_code == 400
    assert response.json()["error"].startswith("Interface name is required")


async def test_unknown_interface_is_a_bad_request(api: httpx.AsyncClient,
                                                  ipv6_admin: Member) -> None:
    response = await api.post("/api/create_proxy", headers=ipv6_admin.headers,
                              json={"type": "http", "interface": "nope0"})
    assert response.status_code == 400
    assert response.json()["code"] == "UNKNOWN_INTERFACE"


async def test_bad_type_is_a_bad_request(api: httpx.AsyncClient, ipv6_admin: Member,
                                         network: EgressNetwork) -> None:
    response = await api.post("/api/create_proxy", headers=ipv6_admin.headers,
                              json={"type": "socks4", "interface": network.root_link})
    assert response.status_code == 400 and response.json()["error"].startswith("type:")


async def test_a_used_up_prefix_answers_409(settings: Settings, network: EgressNetwork,
                                            ipv6_admin: Member) -> None:
    tiny = str(random_prefix(127))  # one usable address: the all-zero one is never handed out
    container = await start_container(
        egress_settings(settings, network, EgressMode.ANYIP, tiny), network)
    try:
        async with _client(container) as api:
            body = {"type": "http", "interface": network.root_link}
            first = await api.post("/api/create_proxy", headers=ipv6_admin.headers, json=body)
            assert first.status_code == 200, first.text
            second = await api.post("/api/create_proxy", headers=ipv6_admin.headers, json=body)
            assert second.status_code == 409
            assert second.json()["code"] == "PREFIX_EXHAUSTED"
            assert tiny in second.json()["error"]
    finally:
        await container.close()
        with contextlib.suppress(NetworkUnavailable):
            ip("-6", "route", "del", "local", tiny, "dev", "lo")


async def test_no_permission_answers_500_failed_to_assign(
        ipv6_container: bootstrap.Container, network: EgressNetwork,
        ipv6_admin: Member) -> None:
    async def refused(*args: str) -> None:
        raise IpCommandFailed(args, "RTNETLINK answers: Operation not permitted")

    policy = InstancePolicy({network.root_link: str(network.prefix)},
                            ipv6_container.settings.instance_ports)
    ipv6_container.instances = InstancesService(
        ipv6_container.database, AssignEgress(refused), zone_for(network), policy)
    async with _client(ipv6_container) as api:
        response = await api.post("/api/create_proxy", headers=ipv6_admin.headers,
                                  json={"type": "http", "interface": network.root_link})
    assert response.status_code == 500
    assert response.json()["error"] == "Failed to assign IPv6"
    assert "Operation not permitted" in response.json()["details"]["reason"]


async def test_bulk_delete_stats_and_health(api: httpx.AsyncClient, ipv6_admin: Member,
                                            network: EgressNetwork) -> None:
    body = {"type": "socks5", "interface": network.root_link}
    ids = [(await api.post("/api/create_proxy", headers=ipv6_admin.headers, json=body))
           .json()["instance_id"] for _ in range(3)]
    stats = (await api.get("/api/stats", headers=ipv6_admin.headers)).json()
    assert stats["total_proxies"] == 3 and stats["mode"] == "anyip"
    assert stats["interfaces"] == [{"name": network.root_link, "prefix": str(network.prefix),
                                    "proxies": 3}]
    one = await api.post("/api/proxy/bulk_delete", headers=ipv6_admin.headers,
                         json={"instance_ids": [ids[0]]})
    assert one.json()["deleted_count"] == 1
    rest = await api.post("/api/proxy/bulk_delete", headers=ipv6_admin.headers,
                          json={"delete_all": True})
    assert sorted(rest.json()["deleted"]) == sorted(ids[1:])
    neither = await api.post("/api/proxy/bulk_delete", headers=ipv6_admin.headers, json={})
    assert neither.status_code == 400
    assert (await api.get("/api/health")).json() == {"status": "healthy"}


def _client(container: bootstrap.Container) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(container))
    return httpx.AsyncClient(transport=transport, base_url="http://proxyfleet.test")
