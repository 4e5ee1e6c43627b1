"""The manager's proxies through the rotating gateway: a shared one carries requests, a
private or disabled one never does, and every request moves the counters `/api/proxies`
shows, failures included."""

from __future__ import annotations

import httpx
from sqlalchemy import update

from proxyfleet.bootstrap import Container
from proxyfleet.core.clock import utcnow
from proxyfleet.core.proxies import ProxyProtocol
from proxyfleet.sim.farm import Behaviour, Farm, FarmProxy
from proxyfleet.storage.tables import ProxyRow
from tests.conftest import Member
from tests.integration.rotating.clients import curl
from tests.integration.rotating.conftest import running_gateway
from tests.integration.rotating.target import Target

REQUESTS = 12


def _members(farm: Farm, behaviour: Behaviour, protocol: ProxyProtocol) -> list[FarmProxy]:
    return [m for m in farm.members
            if m.behaviour is behaviour and m.address.protocol is protocol]


async def _add(client: httpx.AsyncClient, admin: Member, proxy: FarmProxy,
               shared: bool) -> int:
    address = proxy.address
    made = await client.post("/api/proxies", headers=admin.headers, json={
        "ip": address.host, "port": address.port, "protocol": address.protocol.value,
        "username": address.username, "password": address.password,
        "session": f"cookie-{proxy.index}", "shared": shared})
    assert made.status_code == 201, made.text
    number: int = made.json()["id"]
    return number


async def test_shared_manager_proxies_carry_gateway_traffic_and_count_it(
        client: httpx.AsyncClient, container: Container, admin: Member, member: Member,
        farm: Farm, target: Target) -> None:
    http = _members(farm, Behaviour.ELITE, ProxyProtocol.HTTP)
    socks = _members(farm, Behaviour.ELITE, ProxyProtocol.SOCKS5)
    [dead] = _members(farm, Behaviour.DEAD, ProxyProtocol.HTTP)[:1]
    carrying = {await _add(client, admin, http[0], True): http[0],
                await _add(client, admin, socks[0], True): socks[0]}
    failing = await _add(client, admin, dead, True)
    private = await _add(client, admin, http[1], False)
    disabled = await _add(client, admin, socks[1], True)
    switched = await client.patch(f"/api/proxies/{disabled}/status", headers=admin.headers,
                                  json={"status": "disabled"})
    assert switched.status_code == 200, switched.text
    async with container.database.engines.writer.begin() as conn:  # the checker's verdict
        await conn.execute(update(ProxyRow).values(
            status="active", score=0.9, last_checked_at=utcnow(), anonymity="elite"))
    await container.rotation.refresh()

    async with running_gateway(container) as gateway:
        answers = [await curl("forward", gateway.address, "user", member.key, target.url())
                   for _ in range(REQUESTS)]
    await container.rotation.flush()  # each exit's outcome was recorded when it closed
    assert [a.status for a in answers] == [200] * REQUESTS
    assert {a.peer for a in answers} == {p.egress for p in carrying.values()}

    counters = {p["id"]: p for p in
                (await client.get("/api/proxies", headers=admin.headers)).json()}
    assert sum(counters[n]["total_requests"] for n in carrying) == REQUESTS
    assert all(counters[n]["failed_requests"] == counters[n]["error_count"] == 0
               for n in carrying)
    tried = counters[failing]
    assert tried["total_requests"] >= 1  # round robin reached it, and it failed each time
    assert tried["failed_requests"] == tried["error_count"] == tried["total_requests"]
    assert tried["requests_this_hour"] == tried["total_requests"]
    for untouched in (private, disabled):
        assert counters[untouched]["total_requests"] == 0
