"""GET /metrics counts the gateway's traffic: requests by way in and outcome, and bytes each
way, as the running gateway carried them (counted on the hot path, added to Prometheus'
counters at its flush)."""

from __future__ import annotations

import socket

import httpx

from proxyfleet.bootstrap import Container
from proxyfleet.rotating.service import GatewayService
from tests.conftest import Member
from tests.integration.notify.test_metrics import samples
from tests.integration.rotating.clients import curl
from tests.integration.rotating.conftest import Pool, running_gateway
from tests.integration.rotating.target import Target
from tests.integration.rotating.test_limits import _hold_tunnel


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_metrics_count_the_gateway_requests_and_bytes(
        client: httpx.AsyncClient, container: Container, pool: Pool, target: Target,
        member: Member, admin: Member) -> None:
    gateways: list[GatewayService] = []
    async with running_gateway(container) as gateway:
        gateways.append(gateway)
        for way in ("forward", "connect", "socks5"):
            assert (await curl(way, gateway.address, "user", member.key, target.url())
                    ).status == 200
        # Two plain requests on one connection in a session: the second rides the kept-alive
        # upstream connection, nothing dialed, and is a request all the same.
        assert (await curl("forward", gateway.address, "user-session-m1", member.key,
                           target.url("/a"), target.url("/b"))).status == 200
        assert (await curl("forward", gateway.address, "user", "wrong-key", target.url())
                ).status == 407
        refused = await curl("socks5", gateway.address, "user", "wrong-key", target.url())
        assert refused.exit_code != 0
        nowhere = f"http://127.0.0.1:{_closed_port()}/"
        assert (await curl("connect", gateway.address, "user", member.key, nowhere)
                ).status == 502
    async with running_gateway(container, gateway_user_max_connections=1) as gateway:
        gateways.append(gateway)
        _, writer, head = await _hold_tunnel(gateway, member.key, target)
        assert head.startswith(b"HTTP/1.1 200")
        assert (await curl("forward", gateway.address, "user", member.key, target.url())
                ).status == 429
        writer.close()
    # Each gateway's close flushed what it counted.

    found = samples((await client.get("/metrics", headers=admin.headers)).text)
    requests = {dict(labels)["way"] + "/" + dict(labels)["outcome"]: value
                for (name, labels), value in found.items()
                if name == "proxyfleet_gateway_requests_total"}
    assert requests == {"http/ok": 3, "connect/ok": 2, "socks5/ok": 1,
                        "http/refused_auth": 1, "socks5/refused_auth": 1,
                        "connect/failed": 1, "http/rate_limited": 1}
    carried = [g.server.counters for g in gateways if g.server is not None]
    up = found[("proxyfleet_gateway_bytes_total", (("direction", "up"),))]
    down = found[("proxyfleet_gateway_bytes_total", (("direction", "down"),))]
    assert up == sum(c.bytes_received for c in carried) > 0
    assert down == sum(c.bytes_sent for c in carried) > 0
