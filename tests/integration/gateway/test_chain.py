"""A proxyfleet listener whose dialer chains through an upstream proxy (`ChainDialer`): through
a second proxyfleet listener (HTTP CONNECT, SOCKS5, SOCKS4; with and without a login), through
real microsocks, dante and tinyproxy, and through two hops. The origin must see the last hop's
address. Failures of the chain are answered as a direct dial's are: a wrong upstream login or
a dead upstream gives 502 / SOCKS5 general failure, a silent one 504 / TTL expired, and what
the upstream says of the target (refused) passes through.

The upstream proxyfleet listener leaves from `LAST_HOP`; the daemons leave from `EGRESS`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from proxyfleet.gateway.chain import ChainDialer, Upstream, UpstreamError, UpstreamProtocol
from proxyfleet.gateway.dialer import DialFailure, TcpDialer
from proxyfleet.gateway.engine import ListenerConfig, ListenerProtocol
from proxyfleet.gateway.leg import Leg
from proxyfleet.gateway.server import ProxyServer
from proxyfleet.wire.credentials import Credentials
from proxyfleet.wire.http_connect import HttpConnectClient
from proxyfleet.wire.socks5 import Socks5Error, Socks5Reply
from proxyfleet.wire.socks5_client import Socks5Client
from proxyfleet.wire.target import Target
from tests.integration.daemons.processes import EGRESS, free_port
from tests.integration.daemons.test_dante import start_dante
from tests.integration.daemons.test_microsocks import start_microsocks
from tests.integration.daemons.test_tinyproxy import start_tinyproxy
from tests.integration.gateway.conftest import PASSWORD, USER, check_password, needs_curl
from tests.integration.gateway.loopback import (
    TIMEOUT,
    Origin,
    curl,
    eventually,
    exchange,
    open_tunnel,
    pattern,
    serving,
)

HTTP, SOCKS5, SOCKS4 = UpstreamProtocol.HTTP, UpstreamProtocol.SOCKS5, UpstreamProtocol.SOCKS4
LAST_HOP = "127.0.0.3"
LOGIN = Credentials(USER, PASSWORD)
WRONG = Credentials(USER, "not-the-password")
ALL_PROTOCOLS = frozenset(ListenerProtocol)
# How a client asks the front listener: forwarding, CONNECT, SOCKS5 with remote names.
CLIENTS = {
    "http-forward": ["-x", "http://{front}"],
    "http-connect": ["-p", "-x", "http://{front}"],
    "socks5h": ["--socks5-hostname", "{front}"],
}


@pytest.fixture
def daemons() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as stack:
        yield stack


@contextlib.asynccontextmanager
async def last_hop(locked: bool = False) -> AsyncIterator[ProxyServer]:
    """A second proxyfleet listener that egresses from `LAST_HOP`."""
    config = ListenerConfig(protocols=ALL_PROTOCOLS)
    authenticate = check_password if locked else None
    async with ProxyServer(config, authenticate=authenticate,
                           dialer=TcpDialer(LAST_HOP)) as server:
        yield server


@contextlib.asynccontextmanager
async def front(dialer: ChainDialer, connect_timeout: float = 10.0,
                ) -> AsyncIterator[ProxyServer]:
    config = ListenerConfig(protocols=ALL_PROTOCOLS, connect_timeout=connect_timeout)
    async with ProxyServer(config, dialer=dialer) as server:
        yield server


def upstream_at(protocol: UpstreamProtocol, port: int,
                credentials: Credentials | None = None) -> Upstream:
    return Upstream(protocol, Target("127.0.0.1", port), credentials)


def _at(server: ProxyServer) -> str:
    return "{}:{}".format(*server.address)


async def fetch_with_curl(server: ProxyServer, client: str, url: str) -> bytes:
    args = [arg.format(front=_at(server)) for arg in CLIENTS[client]]
    code, out, err = await curl(*args, url)
    assert code == 0, err
    return out


async def forward_status(server: ProxyServer, origin: Origin) -> bytes:
    """The status line the front answers a forwarded GET with."""
    request = f"GET {origin.url('/x')} HTTP/1.1\r\nHost: o\r\nConnection: close\r\n\r\n"
    answer = await exchange(server.address, request.encode())
    return answer.split(b"\r\n", 1)[0]


async def socks5_reply(server: ProxyServer, target: Target) -> Socks5Reply:
    """The reply the front gives a SOCKS5 CONNECT to `target`."""
    with pytest.raises(Socks5Error) as refused:
        await open_tunnel(server.address, Socks5Client(target))
    return refused.value.reply


def origin_target(origin: Origin) -> Target:
    return Target(origin.host, origin.port)


# Through a second proxyfleet listener.

@needs_curl
@pytest.mark.parametrize("client", list(CLIENTS))
@pytest.mark.parametrize(("protocol", "credentials"), [
    pytest.param(HTTP, None, id="http"),
    pytest.param(HTTP, LOGIN, id="http-login"),
    pytest.param(SOCKS5, None, id="socks5"),
    pytest.param(SOCKS5, LOGIN, id="socks5-login"),
    pytest.param(SOCKS4, None, id="socks4"),
])
async def test_curl_through_a_chain_to_a_second_listener(
    origin: Origin, client: str, protocol: UpstreamProtocol, credentials: Credentials | None,
) -> None:
    async with last_hop(locked=credentials is not None) as upstream:
        dialer = ChainDialer(upstream_at(protocol, upstream.address[1], credentials))
        async with front(dialer) as server:
            out = await fetch_with_curl(server, client, origin.url("/chained"))
    assert out.startswith(f"GET /chained from {LAST_HOP} ".encode()), out


async def test_a_chained_tunnel_carries_a_body_both_ways(origin: Origin) -> None:
    """The wire client over a chained CONNECT: a 4 MiB response, then a kept-alive request."""
    size = 4 << 20
    async with last_hop() as upstream:
        dialer = ChainDialer(upstream_at(SOCKS5, upstream.address[1]))
        async with front(dialer) as server:
            reader, writer, _ = await open_tunnel(server.address,
                                                  HttpConnectClient(origin_target(origin)))
            writer.write(f"GET /bytes/{size} HTTP/1.1\r\nHost: o\r\n\r\n".encode())
            async with asyncio.timeout(TIMEOUT):
                await reader.readuntil(b"\r\n\r\n")
                body = await reader.readexactly(size)
                writer.write(b"GET /again HTTP/1.1\r\nHost: o\r\nConnection: close\r\n\r\n")
                again = await reader.read()
            writer.close()
    assert body == pattern(size)
    assert f"GET /again from {LAST_HOP} ".encode() in again


@needs_curl
async def test_two_hops_end_at_the_last_one(
    origin: Origin, daemons: contextlib.ExitStack, tmp_path: Path,
) -> None:
    """front → proxyfleet (SOCKS5, login) → microsocks → origin: the origin sees microsocks."""
    micro = start_microsocks(daemons, tmp_path)
    async with last_hop(locked=True) as middle:
        first = ChainDialer(upstream_at(SOCKS5, middle.address[1], LOGIN))
        async with front(ChainDialer(upstream_at(SOCKS5, micro), via=first)) as server:
            out = await fetch_with_curl(server, "socks5h", origin.url("/two-hops"))
    assert out.startswith(f"GET /two-hops from {EGRESS} ".encode()), out


# Through real daemons.

@needs_curl
@pytest.mark.parametrize("client", list(CLIENTS))
@pytest.mark.parametrize("daemon", ["microsocks", "microsocks-login", "dante", "dante-socks4",
                                    "tinyproxy", "tinyproxy-login"])
async def test_curl_through_a_chain_to_a_daemon(
    origin: Origin, daemons: contextlib.ExitStack, tmp_path: Path, client: str, daemon: str,
) -> None:
    upstream = start_daemon(daemon, daemons, tmp_path)
    async with front(ChainDialer(upstream)) as server:
        out = await fetch_with_curl(server, client, origin.url("/via-daemon"))
    assert out.startswith(f"GET /via-daemon from {EGRESS} ".encode()), out


def start_daemon(name: str, daemons: contextlib.ExitStack, folder: Path,
                 credentials: Credentials | None = LOGIN) -> Upstream:
    """One of the daemon set-ups by name; `credentials` is what we log in with."""
    kind, _, variant = name.partition("-")
    login = (USER, PASSWORD)
    if kind == "microsocks":
        port = start_microsocks(daemons, folder, login if variant else None)
        return upstream_at(SOCKS5, port, credentials if variant else None)
    if kind == "tinyproxy":
        port = start_tinyproxy(daemons, folder, *([f"BasicAuth {USER} {PASSWORD}"]
                                                  if variant else []))
        return upstream_at(HTTP, port, credentials if variant else None)
    port = start_dante(daemons, folder)
    return upstream_at(SOCKS4 if variant else SOCKS5, port)


# Failures.

@pytest.mark.parametrize("daemon", ["microsocks-login", "tinyproxy-login"])
async def test_a_wrong_login_at_a_daemon_is_a_bad_gateway(
    origin: Origin, daemons: contextlib.ExitStack, tmp_path: Path, daemon: str,
) -> None:
    upstream = start_daemon(daemon, daemons, tmp_path, credentials=WRONG)
    async with front(ChainDialer(upstream)) as server:
        assert await forward_status(server, origin) == b"HTTP/1.1 502 Bad Gateway"
        assert await socks5_reply(server, origin_target(origin)) is Socks5Reply.GENERAL_FAILURE
    assert origin.requests == []


@pytest.mark.parametrize("protocol", [HTTP, SOCKS5])
async def test_a_wrong_login_at_a_second_listener_is_a_bad_gateway(
    origin: Origin, protocol: UpstreamProtocol,
) -> None:
    async with last_hop(locked=True) as upstream:
        dialer = ChainDialer(upstream_at(protocol, upstream.address[1], WRONG))
        async with front(dialer) as server:
            assert await forward_status(server, origin) == b"HTTP/1.1 502 Bad Gateway"
            reply = await socks5_reply(server, origin_target(origin))
            with pytest.raises(UpstreamError) as failed:
                await dialer.dial(origin_target(origin), Leg)
    assert reply is Socks5Reply.GENERAL_FAILURE
    assert failed.value.failure is DialFailure.FAILED
    assert failed.value.proxy_at_fault
    assert "login refused" in str(failed.value)
    assert origin.requests == []


@pytest.mark.parametrize("protocol", list(UpstreamProtocol))
async def test_a_dead_upstream_is_a_bad_gateway(origin: Origin,
                                                protocol: UpstreamProtocol) -> None:
    dialer = ChainDialer(upstream_at(protocol, free_port()))
    async with front(dialer) as server:
        assert await forward_status(server, origin) == b"HTTP/1.1 502 Bad Gateway"
        assert await socks5_reply(server, origin_target(origin)) is Socks5Reply.GENERAL_FAILURE
        with pytest.raises(UpstreamError) as failed:
            await dialer.dial(origin_target(origin), Leg)
    assert failed.value.proxy_at_fault
    assert str(failed.value).endswith("upstream not reachable: connection refused")


class _SilentUpstream:
    """Accepts, reads and never answers; counts the connections still open."""

    def __init__(self) -> None:
        self.open = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        try:
            while await reader.read(4096):
                pass
        finally:
            self.open -= 1
            writer.close()


@pytest.mark.parametrize(("chain_timeout", "listener_timeout"), [
    pytest.param(0.3, 10.0, id="the-chain-deadline"),
    pytest.param(10.0, 0.3, id="the-listener-deadline"),
])
async def test_a_silent_upstream_times_out_and_is_let_go(
    origin: Origin, chain_timeout: float, listener_timeout: float,
) -> None:
    silent = _SilentUpstream()
    async with serving(silent.handle) as port:
        dialer = ChainDialer(upstream_at(SOCKS5, port), connect_timeout=chain_timeout)
        async with front(dialer, connect_timeout=listener_timeout) as server:
            assert await forward_status(server, origin) == b"HTTP/1.1 504 Gateway Timeout"
            assert await socks5_reply(server, origin_target(origin)) is Socks5Reply.TTL_EXPIRED
            await eventually(lambda: silent.open == 0)


@pytest.mark.parametrize(("protocol", "reply"), [
    (SOCKS5, Socks5Reply.CONNECTION_REFUSED),  # the upstream's own verdict passes through
    (HTTP, Socks5Reply.GENERAL_FAILURE),  # a 502 to CONNECT says only that it failed
])
async def test_the_upstreams_word_on_a_dead_target_passes_through(
    protocol: UpstreamProtocol, reply: Socks5Reply,
) -> None:
    nowhere = Target("127.0.0.1", free_port())
    async with last_hop() as upstream:
        dialer = ChainDialer(upstream_at(protocol, upstream.address[1]))
        async with front(dialer) as server:
            assert await socks5_reply(server, nowhere) is reply
            with pytest.raises(UpstreamError) as failed:
                await dialer.dial(nowhere, Leg)
    assert not failed.value.proxy_at_fault


async def test_socks4_cannot_carry_an_ipv6_target() -> None:
    async with last_hop() as upstream:
        dialer = ChainDialer(upstream_at(SOCKS4, upstream.address[1]))
        with pytest.raises(UpstreamError) as failed:
            await dialer.dial(Target("::1", 80), Leg)
    assert failed.value.failure is DialFailure.FAILED
    assert "IPv6" in str(failed.value)

