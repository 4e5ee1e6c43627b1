"""Proof on a real network (namespaces and a veth pair): every instance leaves from its own
address of the prefix — the one the API reported — for both modes and both protocols, through
curl and Python requests; names with only an A record and IPv4 targets are refused; deleting an
instance closes its listener and releases its address; a restart brings instances back."""

from __future__ import annotations

import asyncio
import ipaddress

import httpx
import pytest

from proxyfleet.gateway.egress import EgressMode
from proxyfleet.settings import Settings
from tests.conftest import Member
from tests.integration.ipv6.clients import (
    Fetched,
    curl,
    python_requests,
    socks5_connect_reply,
)
from tests.integration.ipv6.conftest import TARGET_NAME, V4_ONLY_NAME, start_container
from tests.integration.ipv6.network import TARGET_PORT, EgressNetwork

INSTANCES = 3
SOCKS5_HOST_UNREACHABLE = 0x04
SOCKS5_NETWORK_UNREACHABLE = 0x03


async def create(api: httpx.AsyncClient, admin: Member, kind: str,
                 interface: str) -> dict[str, object]:
    response = await api.post("/api/create_proxy", headers=admin.headers,
                              json={"type": kind, "interface": interface})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def endpoint_of(instance: dict[str, object], kind: str) -> str:
    if "endpoints" in instance:
        endpoints = instance["endpoints"]
        assert isinstance(endpoints, dict)
        return str(endpoints[kind])
    return str(instance["proxy_endpoint"])


@pytest.mark.parametrize("kind", ["http", "socks5"])
async def test_each_instance_egresses_from_its_own_address(
        api: httpx.AsyncClient, ipv6_admin: Member, network: EgressNetwork, kind: str) -> None:
    instances = [await create(api, ipv6_admin, kind, network.root_link)
                 for _ in range(INSTANCES)]
    reported = [str(instance["ipv6_address"]) for instance in instances]
    assert len(set(reported)) == INSTANCES
    assert all(ipaddress.IPv6Address(address) in network.prefix for address in reported)
    for instance, address in zip(instances, reported, strict=True):
        endpoint = endpoint_of(instance, kind)
        assert endpoint.startswith("127.0.0.1:")
        by_curl = await curl(kind, endpoint, network.target_url)
        by_requests = await python_requests(kind, endpoint, network.target_url)
        by_name = await curl(kind, endpoint, f"http://{TARGET_NAME}:{TARGET_PORT}/")
        assert by_curl == by_requests == by_name == Fetched(200, address)


async def test_both_gives_two_endpoints_with_one_address(
        api: httpx.AsyncClient, ipv6_admin: Member, network: EgressNetwork) -> None:
    instance = await create(api, ipv6_admin, "both", network.root_link)
    assert "proxy_endpoint" not in instance
    address = str(instance["ipv6_address"])
    for kind in ("http", "socks5"):
        fetched = await python_requests(kind, endpoint_of(instance, kind), network.target_url)
        assert fetched == Fetched(200, address)
    detail = (await api.get(f"/api/proxy/{instance['instance_id']}",
                            headers=ipv6_admin.headers)).json()
    assert detail["stats"]["connections"] == 2
    assert detail["stats"]["bytes_sent"] > 0 and detail["stats"]["bytes_received"] > 0
    assert detail["stats"]["last_activity_ts"] is not None


async def test_targets_without_ipv6_are_refused(
        api: httpx.AsyncClient, ipv6_admin: Member, network: EgressNetwork) -> None:
    instance = await create(api, ipv6_admin, "both", network.root_link)
    http, socks5 = endpoint_of(instance, "http"), endpoint_of(instance, "socks5")
    assert (await curl("http", http, f"http://{V4_ONLY_NAME}/")).status == 502
    assert (await curl("http", http, "http://192.0.2.10/")).status == 502
    assert (await python_requests("http", http, f"http://{V4_ONLY_NAME}/")).status == 502
    assert (await curl("socks5", socks5, f"http://{V4_ONLY_NAME}/")).status == 0
    assert await socks5_connect_reply(socks5, V4_ONLY_NAME, 80) == SOCKS5_HOST_UNREACHABLE
    assert await socks5_connect_reply(socks5, "192.0.2.10", 80) == SOCKS5_NETWORK_UNREACHABLE


async def _refuses_connections(endpoint: str) -> bool:
    host, _, port = endpoint.rpartition(":")
    try:
        async with asyncio.timeout(5):
            _, writer = await asyncio.open_connection(host, int(port))
    except ConnectionRefusedError:
        return True
    writer.close()
    return False


async def test_delete_closes_the_listener_and_releases_the_address(
        api: httpx.AsyncClient, ipv6_admin: Member, network: EgressNetwork,
        mode: EgressMode) -> None:
    instance = await create(api, ipv6_admin, "socks5", network.root_link)
    address, endpoint = str(instance["ipv6_address"]), endpoint_of(instance, "socks5")
    on_link = address in network.addresses_on_link()
    assert on_link is (mode is EgressMode.ASSIGN)

    deleted = await api.delete(f"/api/proxy/{instance['instance_id']}",
                               headers=ipv6_admin.headers)
    assert deleted.status_code == 200, deleted.text
    assert await _refuses_connections(endpoint)
    assert address not in network.addresses_on_link()
    gone = await api.get(f"/api/proxy/{instance['instance_id']}", headers=ipv6_admin.headers)
    assert gone.status_code == 404 and gone.json()["error"] == "Proxy not found"


async def test_a_restart_brings_instances_back(
        api: httpx.AsyncClient, ipv6_admin: Member, network: EgressNetwork,
        ipv6_settings: Settings) -> None:
    instance = await create(api, ipv6_admin, "http", network.root_link)
    endpoint = endpoint_of(instance, "http")
    container = api._transport.app.state.container  # type: ignore[attr-defined]
    await container.close()
    assert await _refuses_connections(endpoint)

    again = await start_container(ipv6_settings, network)
    try:
        views = await again.instances.list_instances()
        assert [str(view.record.id) for view in views] == [instance["instance_id"]]
        assert views[0].record.ipv6_address == instance["ipv6_address"]
        fetched = await curl("http", endpoint, network.target_url)
        assert fetched == Fetched(200, str(instance["ipv6_address"]))
    finally:
        await again.close()


async def test_temp_instances_expire(
        api: httpx.AsyncClient, ipv6_admin: Member, network: EgressNetwork) -> None:
    temp = (await api.post("/api/proxy/create_temp", headers=ipv6_admin.headers,
                           json={"type": "socks5", "ttl": 1,
                                 "interface": network.root_link})).json()
    assert temp["expires_at"] == pytest.approx(temp["created_at"] + 1, abs=0.01)
    kept = await create(api, ipv6_admin, "socks5", network.root_link)
    await asyncio.sleep(1.1)
    cleaned = (await api.post("/api/cleanup", headers=ipv6_admin.headers)).json()
    assert cleaned["cleaned_instances"] == [temp["instance_id"]]
    assert await _refuses_connections(endpoint_of(temp, "socks5"))
    listed = (await api.get("/api/list_proxies", headers=ipv6_admin.headers)).json()
    assert [p["instance_id"] for p in listed["proxies"]] == [kept["instance_id"]]
