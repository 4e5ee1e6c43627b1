"""CONNECT, SOCKS5 and SOCKS4 tunnels through the engine, with curl and the wire clients."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from proxyfleet.gateway.server import ProxyServer
from proxyfleet.wire.credentials import Credentials
from proxyfleet.wire.handshake import ClientHandshake
from proxyfleet.wire.http_connect import ConnectRefused, HttpConnectClient
from proxyfleet.wire.socks4 import Socks4Client, Socks4Error, Socks4Reply
from proxyfleet.wire.socks5 import Socks5AuthFailed, Socks5Error, Socks5Reply
from proxyfleet.wire.socks5_client import Socks5Client
from proxyfleet.wire.target import Target
from tests.integration.gateway.conftest import PASSWORD, USER, needs_curl
from tests.integration.gateway.loopback import (
    TIMEOUT,
    Origin,
    curl,
    exchange,
    hash_and_reply,
    open_tunnel,
    origin_on,
    serving,
)

LOGIN = Credentials(USER, PASSWORD)


def _at(server: ProxyServer) -> str:
    host, port = server.address
    return f"{host}:{port}"


async def _get_through(proxy: ProxyServer, handshake: ClientHandshake, path: str) -> bytes:
    reader, writer, established = await open_tunnel(proxy.address, handshake)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n".encode())
    async with asyncio.timeout(TIMEOUT):
        answer = established.early_data + await reader.read()
    writer.close()
    return answer


@needs_curl
@pytest.mark.parametrize("how", [
    ["-p", "-x", "http://{proxy}"],
    ["--socks5-hostname", "{proxy}"],
    ["--socks5", "{proxy}"],
    ["--socks4a", "{proxy}"],
    ["--socks4", "{proxy}"],
])
async def test_curl_through_each_tunnel(proxy: ProxyServer, origin: Origin,
                                        how: list[str]) -> None:
    args = [arg.format(proxy=_at(proxy)) for arg in how]
    code, out, err = await curl(*args, origin.url("/tunnelled"))
    assert code == 0, err
    assert out.startswith(b"GET /tunnelled from 127.0.0.1 host=127.0.0.1:")


@needs_curl
@pytest.mark.parametrize("how", [
    ["-p", "-x", "http://{proxy}", "--proxy-user", "{login}"],
    ["--socks5-hostname", "{proxy}", "--proxy-user", "{login}"],
    ["-x", "socks5h://{login}@{proxy}"],
])
async def test_curl_with_a_login(locked_proxy: ProxyServer, origin: Origin,
                                 how: list[str]) -> None:
    args = [arg.format(proxy=_at(locked_proxy), login=f"{USER}:{PASSWORD}") for arg in how]
    code, out, err = await curl(*args, origin.url("/in"))
    assert code == 0, err
    assert out.startswith(b"GET /in from")


@needs_curl
async def test_curl_socks5_wrong_password_is_refused(locked_proxy: ProxyServer,
                                                     origin: Origin) -> None:
    code, _, err = await curl("--socks5-hostname", _at(locked_proxy), "--proxy-user",
                              f"{USER}:nope", origin.url("/in"))
    assert code == 97, err  # CURLE_PROXY: the SOCKS5 login failed
    assert origin.requests == []


@pytest.mark.parametrize("handshake", [
    lambda t: HttpConnectClient(t, LOGIN),
    lambda t: Socks5Client(t, LOGIN),
])
async def test_wire_clients_with_a_login(locked_proxy: ProxyServer, origin: Origin,
                                         handshake: type[ClientHandshake]) -> None:
    target = Target("127.0.0.1", origin.port)
    answer = await _get_through(locked_proxy, handshake(target), "/wire")  # type: ignore[call-arg]
    assert b"GET /wire from 127.0.0.1" in answer


async def test_wrong_password_over_connect_gets_407(locked_proxy: ProxyServer,
                                                    origin: Origin) -> None:
    client = HttpConnectClient(Target("127.0.0.1", origin.port), Credentials(USER, "x"))
    with pytest.raises(ConnectRefused) as caught:
        await open_tunnel(locked_proxy.address, client)
    assert caught.value.status == 407
    assert caught.value.response.headers.get("Proxy-Authenticate") == 'Basic realm="proxyfleet"'


async def test_wrong_password_over_socks5_fails_the_login(locked_proxy: ProxyServer) -> None:
    with pytest.raises(Socks5AuthFailed):
        await open_tunnel(locked_proxy.address,
                          Socks5Client(Target("127.0.0.1", 9), Credentials(USER, "x")))


async def test_socks5_without_login_offer_is_refused_by_a_locked_proxy(
        locked_proxy: ProxyServer) -> None:
    answer = await exchange(locked_proxy.address, b"\x05\x01\x00")
    assert answer == b"\x05\xff"


@pytest.mark.parametrize("userid", ["", USER, f"{USER}:nope"])
async def test_socks4_without_the_login_is_refused_by_a_locked_proxy(
        locked_proxy: ProxyServer, userid: str) -> None:
    with pytest.raises(Socks4Error) as caught:
        await open_tunnel(locked_proxy.address, Socks4Client(Target("127.0.0.1", 9), userid))
    assert caught.value.reply is Socks4Reply.REJECTED


async def test_socks4_logs_in_with_the_login_as_its_user_id(
        locked_proxy: ProxyServer, origin: Origin) -> None:
    answer = await _get_through(locked_proxy, Socks4Client(
        Target("127.0.0.1", origin.port), f"{USER}:{PASSWORD}"), "/four")
    assert b"GET /four" in answer


@pytest.mark.parametrize("handshake", [HttpConnectClient, Socks5Client])
async def test_ipv6_target(proxy: ProxyServer, handshake: type[ClientHandshake]) -> None:
    async with origin_on("::1") as origin:
        answer = await _get_through(proxy, handshake(Target("::1", origin.port)),  # type: ignore[call-arg]
                                    "/six")
    assert b"GET /six from ::1" in answer


async def test_socks5_reports_the_bound_address(proxy: ProxyServer, origin: Origin) -> None:
    _, writer, established = await open_tunnel(
        proxy.address, Socks5Client(Target("127.0.0.1", origin.port)))
    writer.close()
    assert established.bound is not None
    assert established.bound.host == "127.0.0.1"
    assert established.bound.port > 0


async def test_socks5_dial_failures_answer_their_reply(proxy: ProxyServer) -> None:
    closed = await _closed_port()
    cases = [(Target("no-such-host.invalid", 80), Socks5Reply.HOST_UNREACHABLE),
             (Target("127.0.0.1", closed), Socks5Reply.CONNECTION_REFUSED)]
    for target, reply in cases:
        with pytest.raises(Socks5Error) as caught:
            await open_tunnel(proxy.address, Socks5Client(target))
        assert caught.value.reply is reply


async def test_connect_dial_failures_get_502(proxy: ProxyServer) -> None:
    closed = await _closed_port()
    for target in (Target("no-such-host.invalid", 443), Target("127.0.0.1", closed)):
        with pytest.raises(ConnectRefused) as caught:
            await open_tunnel(proxy.address, HttpConnectClient(target))
        assert caught.value.status == 502


async def test_socks5_unsupported_command_answers_07(proxy: ProxyServer) -> None:
    answer = await exchange(proxy.address, b"\x05\x01\x00\x05\x02\x00\x01" + bytes(6))
    assert answer == b"\x05\x00" + b"\x05\x07\x00\x01" + bytes(6)


async def _closed_port() -> int:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    server.close()
    await asyncio.wait_for(server.wait_closed(), TIMEOUT)
    return port


async def test_bytes_sent_with_the_connect_request_go_through(proxy: ProxyServer) -> None:
    # A client that does not wait for `200` (some TLS stacks) leaves bytes pending when
    # the tunnel opens: they must go first, then the rest, then the half-close.
    async with serving(hash_and_reply) as port:
        reader, writer = await asyncio.open_connection(*proxy.address)
        writer.write(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\nearly ".encode())
        async with asyncio.timeout(TIMEOUT):
            head = await reader.readuntil(b"\r\n\r\n")
            writer.write(b"late")
            writer.write_eof()
            verdict = await reader.read()
        writer.close()
    assert head.startswith(b"HTTP/1.1 200 ")
    assert verdict == f"{hashlib.sha256(b'early late').hexdigest()} 10".encode()
