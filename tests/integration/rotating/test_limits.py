"""Limits through the gateway under concurrent clients: the per-proxy hourly budget of the
rotation settings, and per user a cap on connections open at once and on requests per
minute (429 on HTTP, SOCKS5 'not allowed' on SOCKS)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from proxyfleet.bootstrap import Container
from proxyfleet.rotating.service import GatewayService
from proxyfleet.sim.farm import Behaviour
from tests.conftest import Member
from tests.integration.rotating.clients import curl
from tests.integration.rotating.conftest import LIVE, Pool, running_gateway
from tests.integration.rotating.target import Target


async def test_the_hourly_budget_holds_under_concurrent_clients(
        container: Container, pool: Pool, target: Target, member: Member) -> None:
    live = pool.egresses(LIVE)
    async with container.database.engines.writer.begin() as conn:
        from sqlalchemy import update

        from proxyfleet.storage.tables import ProxyRow
        # Only the live ones in the pool: every pick is then one request through it.
        dead = [pool.ids[m.index] for m in pool.farm.members if m.egress not in live]
        await conn.execute(update(ProxyRow).where(ProxyRow.id.in_(dead))
                           .values(status="dead"))
    await container.rotation.change_settings(hourly_budget=2)
    async with running_gateway(container) as gateway:
        answers = await asyncio.gather(*(
            curl(way, gateway.address, "user", member.key, target.url())
            for way in ("forward", "connect", "socks5") for _ in range(2 * len(live))))
    served = [a for a in answers if a.status == 200]
    assert len(served) == 2 * len(live)
    by_exit = {peer: [a.peer for a in served].count(peer) for peer in live}
    assert set(by_exit.values()) == {2}
    refused = [a for a in answers if a.status != 200]
    assert all(a.status == 502 or a.exit_code != 0 for a in refused)


@pytest.fixture
def redis_only(redis_url: str | None) -> str:
    if redis_url is None:
        pytest.skip("leases are how Redis holds places")
    return redis_url


async def _hold_tunnel(gateway: GatewayService, key: str, target: Target,
                       ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    reader, writer = await asyncio.open_connection(*gateway.address)
    import base64
    login = base64.b64encode(f"user:{key}".encode()).decode()
    writer.write(f"CONNECT 127.0.0.1:{target.port} HTTP/1.1\r\nHost: x\r\n"
                 f"Proxy-Authorization: Basic {login}\r\n\r\n".encode())
    async with asyncio.timeout(10):
        head = await reader.readuntil(b"\r\n\r\n")
    return reader, writer, head


async def test_a_user_holds_at_most_the_connection_cap(
        container: Container, pool: Pool, target: Target, member: Member,
        admin: Member) -> None:
    async with running_gateway(container, gateway_user_max_connections=3) as gateway:
        held = await asyncio.gather(*(_hold_tunnel(gateway, member.key, target)
                                      for _ in range(5)))
        heads = sorted(head.split(b"\r\n")[0] for _, _, head in held)
        assert heads.count(b"HTTP/1.1 200 Connection established") == 3
        assert heads.count(b"HTTP/1.1 429 Too Many Requests") == 2
        socks = await curl("socks5", gateway.address, "user", member.key, target.url())
        assert socks.exit_code != 0
        other = await curl("forward", gateway.address, "user", admin.key, target.url())
        assert other.status == 200  # another user has caps of their own
        for _, writer, _ in held:
            writer.close()
        await asyncio.sleep(0.2)
        again = await curl("forward", gateway.address, "user", member.key, target.url())
        assert again.status == 200


async def test_requests_per_minute_are_capped(
        container: Container, pool: Pool, target: Target, member: Member) -> None:
    async with running_gateway(container, gateway_user_requests_per_minute=4) as gateway:
        # A rested user may start a minute's worth at once; the next comes 15 s later.
        answers = await asyncio.gather(*(
            curl("forward", gateway.address, "user", member.key, target.url())
            for _ in range(7)))
    statuses = sorted(a.status for a in answers)
    assert statuses == [200] * 4 + [429] * 3
    limited = next(a for a in answers if a.status == 429)
    assert "connection_limit_reached" in limited.headers["proxy-status"]


async def test_two_gateways_share_the_caps_through_redis(
        container: Container, pool: Pool, target: Target, member: Member) -> None:
    """With Redis, the caps are the user's across every gateway process; without it, each
    gateway counts its own."""
    shared = container.redis is not None
    caps = {"gateway_user_max_connections": 3, "gateway_user_requests_per_minute": 6}
    async with running_gateway(container, **caps) as first, \
            running_gateway(container, **caps) as second:
        held = [await _hold_tunnel(gateway, member.key, target)
                for gateway in (first, second, first, second)]
        heads = [head.split(b"\r\n")[0] for _, _, head in held]
        opened = heads.count(b"HTTP/1.1 200 Connection established")
        assert opened == (3 if shared else 4)
        for _, writer, _ in held:
            writer.close()
        await asyncio.sleep(0.3)  # the places are given back
        # Each tunnel let in took one request of the 6 (a refused one takes none): with
        # Redis 3 are left in all; without it, each gateway had 6 and its 2 tunnels took 2.
        answers = [await curl("forward", gateway.address, "user", member.key, target.url())
                   for gateway in (first, second) * 4]
    served = [a.status for a in answers].count(200)
    assert served == (6 - opened if shared else 8)
    assert {a.status for a in answers} <= {200, 429}


async def test_a_gone_gateways_places_lapse_and_a_live_ones_are_kept(
        container: Container, redis_only: str, member: Member) -> None:
    """A held place is a lease in Redis: kept while its process runs, lapsing when the
    process dies without giving it back."""
    from proxyfleet.core.limits import Caps
    from proxyfleet.storage.shared_counts import RedisLimiter

    assert container.redis is not None
    prefix = f"{container.settings.redis_prefix}limits:lapse:"
    gone = RedisLimiter(container.redis, prefix, Caps(at_once=1), lease_seconds=1.0)
    live = RedisLimiter(container.redis, prefix, Caps(at_once=1), lease_seconds=1.0)
    user = uuid.UUID(member.id)
    assert await gone.admit(user)  # and its process dies: nothing runs `gone.run()`
    assert not await live.admit(user)
    await asyncio.sleep(1.2)
    held = await live.admit(user)
    assert held
    keeper = asyncio.create_task(live.run())
    try:
        await asyncio.sleep(1.5)  # past the lease: renewed meanwhile
        assert not await gone.admit(user)
        live.release(held)
        await asyncio.sleep(0.2)
        again = await gone.admit(user)
        assert again
        gone.release(again)
    finally:
        keeper.cancel()
        await asyncio.gather(keeper, return_exceptions=True)


async def test_picks_in_flight_count_against_the_budget_across_snapshot_reloads(
        container: Container, pool: Pool) -> None:
    """A gateway records a tunnel's outcome when it ends; a reload of the rotation's
    snapshot meanwhile must not hand the proxy out past its budget."""
    from proxyfleet.core.rotation import Want

    await container.rotation.change_settings(hourly_budget=1)
    among = frozenset({pool.ids[pool.indexes(Behaviour.ELITE)[0]]})
    first = await container.rotation.pick(Want(among=among))
    assert first is not None
    await container.rotation.refresh()
    assert await container.rotation.pick(Want(among=among)) is None
    container.rotation.record(first.proxy_id, True)
    await container.rotation.flush()
    await container.rotation.refresh()
    assert await container.rotation.pick(Want(among=among)) is None  # stored now
