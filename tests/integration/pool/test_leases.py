"""Leases: acquire, release, expiry, and the documented errors, in their order."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from proxyfleet.bootstrap import Container
from proxyfleet.core.proxies import ProxyAddress, ProxyProtocol
from tests.conftest import Member
from tests.integration.pool.seeding import addresses, funded, seed


async def test_acquire_leases_the_best_matching_proxy_for_one_credit(
        client: httpx.AsyncClient, container: Container, admin: Member) -> None:
    best, good = addresses(2)
    await seed(container, [best], status="active", score=0.9, country="US", anonymity="elite")
    await seed(container, [good], status="active", score=0.5, country="US", anonymity="elite")
    member = await funded(client, admin, 10)

    response = await client.post("/proxies/acquire", headers=member.headers,
                                 json={"protocol": "http", "country": "us"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["proxy"] == {"ip": best.host, "port": best.port, "protocol": "http",
                             "country": "US", "anonymity": "elite", "username": None,
                             "password": None}
    assert body["credits_remaining"] == 9
    assert body["expires_at"].endswith("Z")
    uuid.UUID(body["lease_id"])
    credits = (await client.get("/account/credits", headers=member.headers)).json()
    assert credits["balance"] == 9
    assert credits["recent_transactions"][0] | {"created_at": None} == {
        "amount": -1, "tx_type": "acquire", "currency": "credits", "balance_after": 9,
        "description": f"Proxy acquired: {best.host}:{best.port}", "created_at": None}


async def test_lease_carries_the_proxy_credentials(client: httpx.AsyncClient,
                                                   container: Container, admin: Member) -> None:
    [plain] = addresses(1)
    secret = type(plain)(plain.host, plain.port, plain.protocol, "alice", "s3cret")
    await seed(container, [secret], status="active", score=0.8)
    member = await funded(client, admin, 1)
    body = (await client.post("/proxies/acquire", headers=member.headers)).json()
    assert (body["proxy"]["username"], body["proxy"]["password"]) == ("alice", "s3cret")


async def test_errors_come_in_the_documented_order(client: httpx.AsyncClient,
                                                   container: Container, admin: Member) -> None:
    broke = await funded(client, admin, 0)
    rich = await funded(client, admin, 5)

    no_credit = await client.post("/proxies/acquire", headers=broke.headers)
    assert no_credit.status_code == 402
    assert no_credit.json()["error"]["code"] == "INSUFFICIENT_CREDITS"

    nothing = await client.post("/proxies/acquire", headers=rich.headers)
    assert nothing.status_code == 404
    [only] = addresses(1)
    await seed(container, [only], status="active", score=0.7, country="DE")
    wrong_country = await client.post("/proxies/acquire", headers=rich.headers,
                                      json={"country": "US"})
    assert wrong_country.status_code == 404
    assert wrong_country.json()["error"]["code"] == "NO_PROXY_AVAILABLE"

    assert (await client.post("/proxies/acquire", headers=rich.headers)).status_code == 200
    taken = await client.post("/proxies/acquire", headers=rich.headers)
    assert taken.status_code == 409
    assert taken.json()["error"]["code"] == "ALL_PROXIES_LEASED"
    still_broke = await client.post("/proxies/acquire", headers=broke.headers)
    assert still_broke.status_code == 402
    balance = (await client.get("/account/credits", headers=rich.headers)).json()["balance"]
    assert balance == 4


async def test_dead_and_unchecked_proxies_are_never_leased(
        client: httpx.AsyncClient, container: Container, admin: Member) -> None:
    dead, unchecked = addresses(2)
    await seed(container, [dead], status="dead", score=0.9)
    await seed(container, [unchecked])
    member = await funded(client, admin, 3)
    assert (await client.post("/proxies/acquire", headers=member.headers)).status_code == 404


async def test_bad_acquire_bodies_are_422_and_charge_nothing(
        client: httpx.AsyncClient, container: Container, admin: Member) -> None:
    await seed(container, addresses(1), status="active", score=0.5)
    member = await funded(client, admin, 3)
    for body in [{"lease_duration_seconds": 0}, {"lease_duration_seconds": 3601},
                 {"protocol": "ftp"}, {"min_score": 1.5}, {"country": "USA"},
                 {"lease_duration_seconds": "long"}, {"colour": "blue"}]:
        response = await client.post("/proxies/acquire", headers=member.headers, json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert (await client.get("/account/credits", headers=member.headers)).json()["balance"] == 3


async def test_release_frees_the_proxy_at_once_without_refund(
        client: httpx.AsyncClient, container: Container, admin: Member) -> None:
    await seed(container, addresses(1), status="active", score=0.5)
    first = await funded(client, admin, 2)
    second = await funded(client, admin, 2)
    lease = (await client.post("/proxies/acquire", headers=first.headers)).json()
    assert (await client.post("/proxies/acquire", headers=second.headers)).status_code == 409

    stranger = await client.post(f"/proxies/acquire/{lease['lease_id']}/release",
                                 headers=second.headers)
    assert stranger.status_code == 404
    released = await client.post(f"/proxies/acquire/{lease['lease_id']}/release",
                                 headers=first.headers)
    assert released.status_code == 200
    assert released.json()["status"] == "released"
    again = await client.post(f"/proxies/acquire/{lease['lease_id']}/release",
                              headers=first.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "LEASE_NOT_ACTIVE"
    unknown = await client.post(f"/proxies/acquire/{uuid.uuid4()}/release",
                                headers=first.headers)
    assert unknown.status_code == 404

    assert (await client.post("/proxies/acquire", headers=second.headers)).status_code == 200
    assert (await client.get("/account/credits", headers=first.headers)).json()["balance"] == 1


async def test_account_leases_lists_only_my_live_leases(
        client: httpx.AsyncClient, container: Container, admin: Member) -> None:
    await seed(container, addresses(3), status="active", score=0.5)
    me = await funded(client, admin, 5)
    other = await funded(client, admin, 5)
    kept = (await client.post("/proxies/acquire", headers=me.headers)).json()
    ended = (await client.post("/proxies/acquire", headers=me.headers)).json()
    await client.post("/proxies/acquire", headers=other.headers)
    await client.post(f"/proxies/acquire/{ended['lease_id']}/release", headers=me.headers)

    listed = (await client.get("/account/leases", headers=me.headers)).json()["items"]
    assert [item["lease_id"] for item in listed] == [kept["lease_id"]]
    assert listed[0]["proxy"] == kept["proxy"]


async def test_an_expired_lease_frees_its_proxy_with_no_process_running(
        client: httpx.AsyncClient, container: Container, admin: Member) -> None:
    await seed(container, addresses(1), status="active", score=0.5)
    first = await funded(client, admin, 1)
    second = await funded(client, admin, 1)
    lease = await client.post("/proxies/acquire", headers=first.headers,
                              json={"lease_duration_seconds": 1})
    assert lease.status_code == 200
    assert (await client.post("/proxies/acquire", headers=second.headers)).status_code == 409
    await asyncio.sleep(1.2)

    assert (await client.get("/account/leases", headers=first.headers)).json()["items"] == []
    late = await client.post(f"/proxies/acquire/{lease.json()['lease_id']}/release",
                             headers=first.headers)
    assert late.status_code == 409
    assert (await client.post("/proxies/acquire", headers=second.headers)).status_code == 200


async def test_the_sweep_records_expiries(client: httpx.AsyncClient, container: Container,
                                          admin: Member) -> None:
    await seed(container, addresses(2), status="active", score=0.5)
    member = await funded(client, admin, 2)
    for _ in range(2):
        await client.post("/proxies/acquire", headers=member.headers,
                          json={"lease_duration_seconds": 1})
    await asyncio.sleep(1.2)
    assert await container.leasing.expire_due() == 2
    assert await container.leasing.expire_due() == 0


async def test_filters_choose_among_protocols(client: httpx.AsyncClient, container: Container,
                                              admin: Member) -> None:
    await seed(container, addresses(1, protocol=ProxyProtocol.SOCKS5, net=20), status="active",
               score=0.4)
    await seed(container, addresses(1, net=21), status="active", score=0.9)
    member = await funded(client, admin, 2)
    body = (await client.post("/proxies/acquire", headers=member.headers,
                              json={"protocol": "socks5"})).json()
    assert body["proxy"]["protocol"] == "socks5"
    low = await client.post("/proxies/acquire", headers=member.headers,
                            json={"min_score": 0.95})
    assert low.status_code == 404


async def test_the_ledger_names_an_ipv6_proxy_in_brackets(
        client: httpx.AsyncClient, container: Container, admin: Member) -> None:
    v6 = ProxyAddress("2001:db8::7", 3128, ProxyProtocol.HTTP)
    await seed(container, [v6], status="active", score=0.5)
    member = await funded(client, admin, 1)

    assert (await client.post("/proxies/acquire", headers=member.headers)).status_code == 200

    credits = (await client.get("/account/credits", headers=member.headers)).json()
    assert credits["recent_transactions"][0]["description"] == (
        "Proxy acquired: [2001:db8::7]:3128")
