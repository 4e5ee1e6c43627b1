"""The rotating gateway end to end: curl and requests through it to a loopback target over
HTTP forwarding, CONNECT and SOCKS5, against a simulated pool with dead, slow and failing
proxies. Which exit carried a request is what the target saw as its peer (each farm proxy
leaves from an address of its own)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import struct
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import event, select

from proxyfleet import bootstrap
from proxyfleet.accounts.principals import PrincipalCache
from proxyfleet.accounts.service import AccountsService
from proxyfleet.bootstrap import Container
from proxyfleet.core.clock import utcnow
from proxyfleet.core.proxies import ProxyAddress, ProxyProtocol
from proxyfleet.rotating.service import GatewayService
from proxyfleet.settings import Settings
from proxyfleet.sim.farm import Behaviour
from proxyfleet.storage.tables import ProxyRow
from tests.conftest import Member
from tests.integration.rotating.clients import Answer, curl, fetch
from tests.integration.rotating.conftest import (
    BAD,
    CARRYING,
    Pool,
    running_gateway,
    seed_proxies,
)
from tests.integration.rotating.target import Target
from tests.integration.test_process import _free_port, server_env

WAYS_IN = ["connect", "forward", "socks5"]


async def raw(gateway: GatewayService, data: bytes) -> bytes:
    """Send bytes, half-close, and return everything the gateway says until it closes."""
    reader, writer = await asyncio.open_connection(*gateway.address)
    try:
        writer.write(data)
        writer.write_eof()
        async with asyncio.timeout(10):
            return await reader.read()
    finally:
        writer.close()


REJECTED_4 = b"\x00\x5b" + bytes(6)


def socks4a_request(userid: bytes, target: Target) -> bytes:
    """A SOCKS4a CONNECT to the target by name, with this user id."""
    return (b"\x04\x01" + struct.pack("!H", target.port) + b"\x00\x00\x00\x01" + userid
            + b"\x00127.0.0.1\x00")


def socks5_login(username: str, password: str) -> bytes:
    user, secret = username.encode(), password.encode()
    return b"\x05\x01\x02" + bytes([1, len(user)]) + user + bytes([len(secret)]) + secret


@pytest.mark.parametrize("way", [*WAYS_IN, "socks4a-login"])
async def test_every_request_succeeds_while_live_proxies_remain(
        gateway: GatewayService, pool: Pool, target: Target, member: Member, way: str) -> None:
    answers = [await curl(way, gateway.address, "user", member.key, target.url())
               for _ in range(12)]
    assert [a.status for a in answers] == [200] * 12, answers
    assert {a.peer for a in answers} <= pool.egresses(CARRYING)
    assert len({a.peer for a in answers}) > 1  # rotated: not one exit for everything


async def test_requests_through_http_forwarding_and_socks5(
        gateway: GatewayService, pool: Pool, target: Target, member: Member) -> None:
    for scheme in ("http", "socks5h"):
        answer = await fetch(gateway.address, "user", member.key, target.url(), scheme)
        assert answer.status == 200
        assert answer.peer in pool.egresses(CARRYING)


async def test_dead_proxies_stop_being_chosen(
        container: Container, gateway: GatewayService, pool: Pool, target: Target,
        member: Member) -> None:
    await container.rotation.change_settings(error_threshold=1, cooloff_seconds=3600)
    for _ in range(15):  # every dead proxy is tried, fails once and cools off
        assert (await curl("forward", gateway.address, "u", member.key, target.url())).status \
            == 200
    await container.rotation.flush()
    before = await _requests_by_proxy(container)
    for _ in range(15):
        assert (await curl("forward", gateway.address, "u", member.key, target.url())).status \
            == 200
    await container.rotation.flush()
    after = await _requests_by_proxy(container)
    dead = [pool.ids[i] for i in pool.indexes(Behaviour.DEAD)]
    assert all(after[proxy_id] == before[proxy_id] for proxy_id in dead)
    assert sum(after.values()) - sum(before.values()) >= 15


async def _requests_by_proxy(container: Container) -> dict[object, int]:
    async with container.database.engines.reader.connect() as conn:
        rows = await conn.execute(select(ProxyRow.id, ProxyRow.total_requests))
        return {proxy_id: total for proxy_id, total in rows}


async def test_a_failing_proxy_is_rechecked_soon(
        container: Container, gateway: GatewayService, pool: Pool, target: Target,
        member: Member) -> None:
    later = utcnow().replace(year=2100)
    async with container.database.engines.writer.begin() as conn:
        await conn.execute(ProxyRow.__table__.update().values(next_check_at=later))
    for _ in range(12):
        await curl("forward", gateway.address, "u", member.key, target.url())
    await gateway.flush()
    async with container.database.engines.reader.connect() as conn:
        due = dict((await conn.execute(select(ProxyRow.id, ProxyRow.next_check_at))).all())
    dead = [pool.ids[i] for i in pool.indexes(Behaviour.DEAD)]
    assert any(due[proxy_id] < later for proxy_id in dead)
    live = [pool.ids[i] for i in pool.indexes(Behaviour.ELITE)]
    assert all(due[proxy_id] == later for proxy_id in live)


async def test_a_tunnel_that_brings_nothing_back_counts_against_its_exit(
        container: Container, gateway: GatewayService, pool: Pool, target: Target,
        member: Member) -> None:
    """A tunnel opened through an exit that never brings a byte back is that exit's failed
    request, as a refused connection is; one that answers is a success."""
    username = "user-session-empty1"
    exit_used = (await curl("connect", gateway.address, username, member.key,
                            target.url())).peer
    empty = await curl("connect", gateway.address, username, member.key,
                       target.url("/silent"))
    assert empty.exit_code != 0 and target.peers[-1] == exit_used  # it got there: no answer
    await container.rotation.flush()
    async with container.database.engines.reader.connect() as conn:
        total, failed = (await conn.execute(
            select(ProxyRow.total_requests, ProxyRow.failed_requests)
            .where(ProxyRow.id == pool.id_of_egress(exit_used)))).one()
    assert (total, failed) == (2, 1)


ProxyHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _through_a_proxy_of_ours(container: Container, member: Member, target: Target,
                                   proxy: ProxyHandler) -> tuple[Answer, tuple[int, int]]:
    """One forwarded request through a pool of one proxy, `proxy` on loopback: the answer,
    and that proxy's (total, failed) requests as the rotation stored them."""
    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        [proxy_id] = await seed_proxies(
            container, [ProxyAddress("127.0.0.1", port, ProxyProtocol.HTTP)])
        async with running_gateway(container) as gateway:
            answer = await curl("forward", gateway.address, "user", member.key, target.url())
    finally:
        server.close()
    await container.rotation.flush()
    async with container.database.engines.reader.connect() as conn:
        total, failed = (await conn.execute(
            select(ProxyRow.total_requests, ProxyRow.failed_requests)
            .where(ProxyRow.id == proxy_id))).one()
    return answer, (total, failed)


async def test_an_exit_that_breaks_mid_answer_counts_as_failed(
        container: Container, target: Target, member: Member) -> None:
    """A read error on an exit (the proxy resets the connection halfway through an answer)
    is that exit's failed request, though some bytes came back."""
    async def breaking_proxy(reader: asyncio.StreamReader,
                             writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")  # the CONNECT
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await reader.readuntil(b"\r\n\r\n")  # the request
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()
        await asyncio.sleep(0.2)  # the part is read before the reset
        writer.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # closed with no linger: a reset

    broken, counted = await _through_a_proxy_of_ours(container, member, target,
                                                      breaking_proxy)
    assert broken.exit_code != 0
    assert counted == (1, 1)


async def test_an_exit_that_refuses_the_handshake_counts_as_failed(
        container: Container, target: Target, member: Member) -> None:
    """A handshake refusal (the proxy turns our login away) is that exit's failed request;
    with no other exit, the client gets 502 saying why."""
    async def refusing_proxy(reader: asyncio.StreamReader,
                             writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")  # the CONNECT
        writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                     b"Content-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    refused, counted = await _through_a_proxy_of_ours(container, member, target,
                                                       refusing_proxy)
    assert refused.status == 502 and "login refused" in refused.headers["proxy-status"]
    assert counted == (1, 1)


@pytest.mark.parametrize("way", WAYS_IN)
async def test_sticky_session_keeps_its_exit_and_moves_when_it_dies(
        gateway: GatewayService, pool: Pool, target: Target, member: Member, way: str) -> None:
    username = "user-session-abc123"
    first = [await curl(way, gateway.address, username, member.key, target.url())
             for _ in range(5)]
    assert len({a.peer for a in first}) == 1, first
    pool.farm.kill(pool.index_of_egress(first[0].peer))
    moved = [await curl(way, gateway.address, username, member.key, target.url())
             for _ in range(3)]
    assert [a.status for a in moved] == [200] * 3
    assert len({a.peer for a in moved}) == 1
    assert moved[0].peer != first[0].peer
    other = await curl(way, gateway.address, "user-session-other1", member.key, target.url())
    assert other.status == 200


async def test_hard_session_fails_with_502_when_its_exit_dies(
        gateway: GatewayService, pool: Pool, target: Target, member: Member) -> None:
    username = "user-session-h1-hard"
    first = await curl("forward", gateway.address, username, member.key, target.url())
    assert first.status == 200
    again = await curl("forward", gateway.address, username, member.key, target.url())
    assert again.peer == first.peer
    pool.farm.kill(pool.index_of_egress(first.peer))
    for _ in range(2):
        dead = await curl("forward", gateway.address, username, member.key, target.url())
        assert dead.status == 502
        assert "proxyfleet; error=" in dead.headers["proxy-status"]
    socks = await curl("socks5", gateway.address, username, member.key, target.url())
    assert socks.exit_code != 0  # host unreachable: curl gives up
    assert (await curl("forward", gateway.address, "user-session-h2-hard", member.key,
                       target.url())).status == 200


@pytest.mark.parametrize("options", ["user-country-de", "user-protocol-socks4",
                                     "user-minscore-0.95", "user-anonymity-transparent"])
async def test_no_matching_proxy_is_a_502_saying_so(
        gateway: GatewayService, pool: Pool, target: Target, member: Member,
        options: str) -> None:
    answer = await curl("forward", gateway.address, options, member.key, target.url())
    assert answer.status == 502
    assert "no pool proxy matches" in answer.headers["proxy-status"]
    assert target.peers == []


async def test_options_choose_among_the_pool(
        gateway: GatewayService, pool: Pool, target: Target, member: Member) -> None:
    socks = pool.egresses(CARRYING) & {m.egress for m in pool.farm.members
                                   if m.address.protocol.value == "socks5"}
    for _ in range(6):
        answer = await curl("connect", gateway.address, "user-protocol-socks5-country-us",
                            member.key, target.url())
        assert answer.status == 200
        assert answer.peer in socks


@pytest.mark.parametrize("way", [*WAYS_IN, "socks4a-login"])
@pytest.mark.parametrize("login", [("user", "pp_" + "x" * 48), ("user-colour-red", "KEY"),
                                   ("user", ""), ("user", "KEY-revoked")])
async def test_a_missing_or_wrong_key_is_refused_and_nothing_dialed(
        gateway: GatewayService, pool: Pool, target: Target, member: Member, way: str,
        client: httpx.AsyncClient, login: tuple[str, str]) -> None:
    username, password = login
    if password == "KEY-revoked":
        response = await client.delete(f"/auth/keys/{member.key_id}", headers=member.headers)
        assert response.status_code == 204
    password = password.replace("KEY-revoked", member.key).replace("KEY", member.key)
    answer = await curl(way, gateway.address, username, password, target.url())
    if way.startswith("socks"):
        assert answer.exit_code != 0
    else:
        assert answer.status == 407
        assert answer.headers["proxy-authenticate"].startswith("Basic realm=")
    assert target.peers == []


async def test_without_credentials_http_gets_407_and_socks5_no_method(
        gateway: GatewayService, target: Target) -> None:
    answer = await raw(gateway, f"GET {target.url()} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 407")
    assert b"Proxy-Authenticate: Basic" in answer
    assert await raw(gateway, b"\x05\x01\x00") == b"\x05\xff"
    assert await raw(gateway, socks5_login("user", "pp_wrong")) == b"\x05\x02\x01\x01"
    for userid in (b"", b"user", b"user:pp_wrong"):
        assert await raw(gateway, socks4a_request(userid, target)) == REJECTED_4
    assert target.peers == []


async def test_socks4a_logs_in_with_the_key_in_its_user_id(
        gateway: GatewayService, pool: Pool, target: Target, member: Member) -> None:
    reader, writer = await asyncio.open_connection(*gateway.address)
    try:
        writer.write(socks4a_request(f"user-protocol-socks5:{member.key}".encode(), target))
        async with asyncio.timeout(10):
            reply = await reader.readexactly(8)
            assert reply[:2] == b"\x00\x5a"
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = await reader.read()
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200")
    assert target.peers and target.peers[0] in pool.egresses(CARRYING)


async def test_malformed_handshakes_get_the_protocols_error_and_no_descriptor_leaks(
        gateway: GatewayService, pool: Pool, target: Target, member: Member) -> None:
    opened = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        assert (await raw(gateway, b"\x05\x01\x02\x07\x00garbage")).startswith(b"\x05\x02")
        assert (await raw(gateway, b"GARBAGE / HTTP/9\r\n\r\n")).startswith(b"HTTP/1.1 400")
        assert (await raw(gateway, b"\x04\x01\x00\x50\x7f\x00\x00\x01user\x00")
                )[:2] == b"\x00\x5b"
        assert (await raw(gateway, b"\x05\x00")) in (b"\x05\xff", b"")
        assert (await raw(gateway, os.urandom(64) + b"\r\n\r\n")) != b"ok"
    login = socks5_login("user", member.key) + b"\x05\x09\x00\x01" + struct.pack("!4sH",
                                                                                bytes(4), 80)
    # method chosen, login accepted, then "command not supported" (BIND is not served)
    assert (await raw(gateway, login))[:6] == b"\x05\x02\x01\x00\x05\x07"
    answer = await curl("forward", gateway.address, "user", member.key, target.url())
    assert answer.status == 200  # the listener lives on
    await asyncio.sleep(0.2)
    assert len(os.listdir("/proc/self/fd")) <= opened + 2


async def test_usage_counts_requests_and_bytes(
        gateway: GatewayService, pool: Pool, target: Target, member: Member,
        client: httpx.AsyncClient) -> None:
    for way in WAYS_IN:
        answer = await curl(way, gateway.address, "user", member.key, target.url("/bytes/1000"))
        assert answer.status == 200
    await gateway.flush()
    usage = (await client.get("/account/usage", headers=member.headers)).json()
    assert usage["requests"] == 3
    assert usage["bytes_down"] >= 3000
    assert usage["bytes_up"] > 0
    assert usage["user_id"] == member.id


async def test_a_ban_rule_bans_the_proxy_for_that_domain_only(
        container: Container, gateway: GatewayService, pool: Pool, target: Target,
        member: Member, admin: Member, client: httpx.AsyncClient) -> None:
    username = "user-session-ban1"
    exit_used = (await curl("forward", gateway.address, username, member.key,
                            target.url())).peer
    refused = await curl("forward", gateway.address, username, member.key,
                         target.url("/status/403"))
    assert refused.status == 403 and target.peers[-1] == exit_used
    elsewhere = await curl("forward", gateway.address, username, member.key,
                           target.url("/", host="localhost"))
    assert elsewhere.peer == exit_used  # another domain: the proxy is still fine there
    for _ in range(4):
        here = await curl("forward", gateway.address, username, member.key, target.url())
        assert here.status == 200 and here.peer != exit_used
    # The API lists the bans every gateway process has written; this one writes its own on
    # its next flush, done here rather than waited for.
    await gateway.flush()
    listed = await client.get("/gateway/bans", headers=admin.headers)
    assert listed.status_code == 200
    bans = listed.json()["items"]
    assert [(b["proxy_id"], b["domain"], b["status"]) for b in bans] == [
        (str(pool.id_of_egress(exit_used)), "127.0.0.1", 403)]
    assert (await client.get("/gateway/bans", headers=member.headers)).status_code == 403


async def test_a_known_keys_connections_run_no_database_statement(
        container: Container, pool: Pool, target: Target) -> None:
    """The hot path never waits on the database: once a key is known (the principal cache,
    here kept a minute), a connection's login, pick, limits and counts are all in memory.
    No statement runs in a client's task; the flush writes the counts later, in its own."""
    _, issued = await container.accounts.register("hot-path@example.com", "Hot path")
    statements: list[str] = []

    def in_a_client(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if asyncio.current_task().get_name() == "proxy client":  # type: ignore[union-attr]
            statements.append(statement)

    engines = {container.database.engines.reader, container.database.engines.writer}
    for engine in engines:
        event.listen(engine.sync_engine, "before_cursor_execute", in_a_client)
    accounts = AccountsService(container.database, bootstrap.load_secret(container.settings),
                               principals=PrincipalCache(60.0))
    try:
        async with running_gateway(container, accounts=accounts) as gateway:
            first = await curl("forward", gateway.address, "user", issued.raw, target.url())
            assert first.status == 200
            assert statements  # a key not seen yet is looked up, in the client's task
            looked_up = len(statements)
            for way in WAYS_IN * 3:
                answer = await curl(way, gateway.address, "user", issued.raw, target.url())
                assert answer.status == 200
            assert len(statements) == looked_up
    finally:
        for engine in engines:
            event.remove(engine.sync_engine, "before_cursor_execute", in_a_client)


async def test_the_exit_header_is_opt_in(
        container: Container, pool: Pool, target: Target, member: Member) -> None:
    async with running_gateway(container) as plain:
        answer = await curl("forward", plain.address, "user", member.key, target.url())
        assert "x-proxyfleet-exit" not in answer.headers
    async with running_gateway(container, gateway_exit_header=True) as telling:
        answer = await curl("forward", telling.address, "user", member.key, target.url())
        assert answer.headers["x-proxyfleet-exit"] == str(pool.id_of_egress(answer.peer))


def test_the_gateway_listens_on_loopback_port_8899_with_logins_by_default() -> None:
    defaults = Settings()
    assert (defaults.gateway_host, defaults.gateway_port,
            defaults.gateway_require_credentials) == ("127.0.0.1", 8899, True)


def test_never_an_open_proxy() -> None:
    with pytest.raises(ValidationError, match="requires credentials"):
        Settings(gateway_host="0.0.0.0", gateway_require_credentials=False)
    with pytest.raises(ValidationError, match="requires credentials"):
        Settings(gateway_host="gateway.example", gateway_require_credentials=False)
    assert Settings(gateway_host="127.0.0.2", gateway_require_credentials=False)
    assert Settings(gateway_host="::1", gateway_require_credentials=False)
    assert Settings(gateway_host="0.0.0.0").gateway_require_credentials


async def test_the_gateway_command_refuses_to_start_open(tmp_path: object) -> None:
    env = os.environ | {"PROXYFLEET_GATEWAY_REQUIRE_CREDENTIALS": "false",
                        "PROXYFLEET_DATA_DIR": str(tmp_path)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxyfleet", "gateway", "--host", "0.0.0.0", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(60):
        _, err = await process.communicate()
    assert process.returncode == 2
    assert b"requires credentials" in err


async def test_the_gateway_command_serves_alone(
        container: Container, pool: Pool, target: Target, member: Member,
        tmp_path: Path) -> None:
    """`proxyfleet gateway`, without the API beside it, carries every way in through the
    pool the database holds (what runs it on more machines)."""
    port = _free_port()
    env = server_env(tmp_path / "gateway", container.settings.effective_database_url,
                     container.settings.redis_url)
    # As running_gateway: one failover attempt more than there are bad exits.
    env |= {"PROXYFLEET_GATEWAY_PORT": str(port),
            "PROXYFLEET_GATEWAY_FAILOVER_ATTEMPTS": str(BAD + 1)}
    if container.settings.redis_url:
        env["PROXYFLEET_REDIS_PREFIX"] = container.settings.redis_prefix
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxyfleet", "gateway", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        async with asyncio.timeout(60):
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.1)
                    continue
                writer.close()
                break
        for way in WAYS_IN:
            answer = await curl(way, ("127.0.0.1", port), "user", member.key, target.url())
            assert answer.status == 200, (way, answer)
            assert answer.peer in pool.egresses(CARRYING)
    finally:
        process.terminate()
        async with asyncio.timeout(60):
            await process.wait()


async def test_without_required_credentials_on_loopback_every_protocol_serves(
        container: Container, pool: Pool, target: Target) -> None:
    async with running_gateway(container, gateway_require_credentials=False) as gateway:
        for way in ("anonymous", "socks4a"):
            answer = await curl(way, gateway.address, "", "", target.url())
            assert answer.status == 200
            assert answer.peer in pool.egresses(CARRYING)


async def test_clients_arriving_together_share_one_key_look_up(
        container: Container, gateway: GatewayService, member: Member) -> None:
    from proxyfleet.gateway.leg import Leg
    from proxyfleet.wire.credentials import Credentials
    from tests.integration.accounts.test_authentication import key_reads

    login = Credentials("user-country-us", member.key)
    with key_reads(container) as reads:
        routes = await asyncio.gather(*(gateway.router.enter(login, Leg())
                                        for _ in range(20)))
    assert all(route is not None for route in routes)
    assert len(reads) <= 1  # one look-up, or none while the principal cache holds the key
    for route in routes:
        assert route is not None
        route.close()


async def test_the_gateway_says_where_it_listens(container: Container, member: Member,
                                                 client: httpx.AsyncClient) -> None:
    configured = (await client.get("/gateway", headers=member.headers)).json()
    assert configured == {"running": False, "host": container.settings.gateway_host,
                          "port": container.settings.gateway_port,
                          "require_credentials": True,
                          "protocols": ["http", "connect", "socks5", "socks4"]}
    container.gateway.config = dataclasses.replace(container.gateway.config, port=0)
    await container.start_gateway()
    answer = (await client.get("/gateway", headers=member.headers)).json()
    assert (answer["running"], answer["host"], answer["port"]) == (
        True, *container.gateway.address)
    assert answer["port"] != 0
    refused = await client.get("/gateway")
    assert (refused.status_code, refused.json()["error"]["code"]) == (401, "UNAUTHORIZED")


async def test_time_to_first_byte_moves_the_latency_the_rotation_reads(
        container: Container, gateway: GatewayService, pool: Pool, target: Target,
        member: Member) -> None:
    """Every exit starts measured at 20 ms; the slow one answers after 200 ms. Its time to
    first byte in real traffic takes it out of a `max_latency_ms` pick at once, and into
    its stored average at the next flush; a fast exit stays fast."""
    from proxyfleet.core.proxies import ProxyFilter
    from proxyfleet.core.rotation import Want

    slow, fast = pool.ids[pool.indexes(Behaviour.SLOW)[0]], pool.ids[pool.indexes(
        Behaviour.ELITE)[0]]
    quick = ProxyFilter(max_latency_ms=100.0)
    assert await container.rotation.pick(Want(filter=quick, among=frozenset({slow})))
    for _ in range(6):  # round robin over the HTTP exits: the slow one carries some
        answer = await curl("forward", gateway.address, "user-protocol-http", member.key,
                            target.url())
        assert answer.status == 200
    assert await container.rotation.pick(Want(filter=quick, among=frozenset({slow}))) is None
    assert await container.rotation.pick(Want(filter=quick, among=frozenset({fast})))
    await container.rotation.flush()
    async with container.database.engines.reader.connect() as conn:
        stored = dict((await conn.execute(select(ProxyRow.id, ProxyRow.avg_latency_ms))).all())
    # A flush moves the stored average a third of the way to the batch's mean, as a check
    # round moves it to its own measure.
    assert stored[slow] > 50.0
    assert stored[slow] > stored[fast] + 30.0
