"""`user-exit-ipv6`: straight out from a fresh address of the configured IPv6 prefix (anyip
mode), no pool proxy and no instance, over the real test network of the IPv6 tests (a
network namespace whose target reports the peer address)."""

from __future__ import annotations

import ipaddress

import pytest

from proxyfleet.bootstrap import Container
from proxyfleet.gateway.egress import EgressMode
from tests.conftest import Member
from tests.integration.ipv6.conftest import network  # noqa: F401 (the fixture)
from tests.integration.ipv6.network import EgressNetwork
from tests.integration.rotating.clients import curl
from tests.integration.rotating.conftest import running_gateway


@pytest.mark.parametrize("way", ["forward", "connect", "socks5"])
async def test_exit_ipv6_leaves_from_fresh_addresses_of_the_prefix(
        container: Container, network: EgressNetwork,  # noqa: F811 (the fixture)
        member: Member, way: str) -> None:
    async with running_gateway(container, ipv6_prefixes={network.root_link: str(network.prefix)},
                               ipv6_mode=EgressMode.ANYIP) as gateway:
        answers = [await curl(way, gateway.address, "user-exit-ipv6", member.key,
                              network.target_url) for _ in range(3)]
    peers = [a.body for a in answers]
    assert [a.status for a in answers] == [200] * 3, answers
    assert all(ipaddress.IPv6Address(peer) in network.prefix for peer in peers)
    assert len(set(peers)) == 3  # a fresh address each connection
