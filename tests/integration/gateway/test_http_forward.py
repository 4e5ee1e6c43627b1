"""Absolute-URI forwarding through the engine, with curl and raw sockets."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from proxyfleet.gateway.engine import ListenerConfig
from proxyfleet.gateway.server import ProxyServer
from tests.integration.gateway.conftest import ALL_PROTOCOLS, PASSWORD, USER, needs_curl
from tests.integration.gateway.loopback import (
    TIMEOUT,
    Origin,
    curl,
    eventually,
    exchange,
    origin_on,
    pattern,
    serving,
)


def _proxy_url(server: ProxyServer, login: str = "") -> str:
    host, port = server.address
    return f"http://{login}{host}:{port}"


@needs_curl
async def test_curl_forwards_and_keeps_the_connection_alive(proxy: ProxyServer,
                                                            origin: Origin) -> None:
    code, out, err = await curl("-x", _proxy_url(proxy), origin.url("/one"), origin.url("/two"))
    assert code == 0, err
    assert out.startswith(b"GET /one from 127.0.0.1 host=127.0.0.1:")
    assert b"GET /two" in out
    assert origin.connections == 1
    assert proxy.counters.connections_total == 1
    _, _, headers = origin.requests[0]
    assert "proxy-connection" not in headers
    assert "proxy-authorization" not in headers


@needs_curl
async def test_curl_with_a_login(locked_proxy: ProxyServer, origin: Origin) -> None:
    code, out, err = await curl("-x", _proxy_url(locked_proxy), "--proxy-user",
                                f"{USER}:{PASSWORD}", origin.url("/in"))
    assert code == 0, err
    assert out.startswith(b"GET /in from")
    assert "proxy-authorization" not in origin.requests[0][2]


@needs_curl
async def test_wrong_password_gets_407(locked_proxy: ProxyServer, origin: Origin) -> None:
    code, out, err = await curl("-i", "-x", _proxy_url(locked_proxy), "--proxy-user",
                                f"{USER}:wrong", origin.url("/in"))
    assert code == 0, err
    assert out.startswith(b"HTTP/1.1 407 Proxy Authentication Required\r\n")
    assert b'Proxy-Authenticate: Basic realm="proxyfleet"' in out
    assert origin.requests == []
    assert locked_proxy.counters.handshake_failures == 1


@needs_curl
async def test_chunked_and_until_close_responses(proxy: ProxyServer, origin: Origin) -> None:
    code, out, err = await curl("-x", _proxy_url(proxy), origin.url("/chunked"),
                                origin.url("/until-close"), origin.url("/after"))
    assert code == 0, err
    assert out.startswith(b"hello chunksall of itGET /after")


@needs_curl
async def test_post_bodies_and_expect_continue(proxy: ProxyServer, origin: Origin,
                                              tmp_path: Path) -> None:
    body = tmp_path / "body"
    body.write_bytes(b"x" * 200_000)
    # The first body goes chunked, after waiting for the origin's `100 Continue`.
    code, out, err = await curl("-x", _proxy_url(proxy), "--data-binary", f"@{body}",
                                origin.url("/post"), "-H", "Transfer-Encoding: chunked",
                                "-H", "Expect: 100-continue", "--expect100-timeout", "9",
                                "--next", "-x", _proxy_url(proxy), "--data-binary", f"@{body}",
                                origin.url("/post2"))
    assert code == 0, err
    assert out.count(b":200000") == 2
    assert origin.connections == 1
    assert origin.requests[0][2].get("expect") == "100-continue"


async def test_pipelined_requests_with_bodies_in_one_write(proxy: ProxyServer,
                                                           origin: Origin) -> None:
    target = origin.url("")
    raw = (f"POST {target}/a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
           f"POST {target}/b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
           f"2\r\nde\r\n0\r\n\r\n"
           f"HEAD {target}/c HTTP/1.1\r\n\r\n"
           f"GET {target}/d HTTP/1.1\r\nConnection: close\r\n\r\n").encode()
    answer = await exchange(proxy.address, raw)
    assert answer.count(b"HTTP/1.1 200 OK") == 4
    assert b"POST /a" in answer and b":3" in answer
    assert b"POST /b" in answer and b":2" in answer
    assert answer.endswith(b"GET /d from 127.0.0.1 host=127.0.0.1:%d body=" % origin.port
                           + answer.rsplit(b"body=", 1)[1])
    assert b"Connection: close" in answer.rsplit(b"HTTP/1.1", 1)[1]


async def test_http_10_client_gets_one_response_then_close(proxy: ProxyServer,
                                                           origin: Origin) -> None:
    answer = await exchange(proxy.address, f"GET {origin.url('/old')} HTTP/1.0\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") or answer.startswith(b"HTTP/1.0 200")
    assert b"Connection: close" in answer


@needs_curl
async def test_ipv6_origin(proxy: ProxyServer) -> None:
    async with origin_on("::1") as origin:
        code, out, err = await curl("-x", _proxy_url(proxy), origin.url("/six"))
    assert code == 0, err
    assert out.startswith(b"GET /six from ::1 host=[::1]:")


async def test_unresolvable_name_gets_502(proxy: ProxyServer) -> None:
    answer = await exchange(proxy.address,
                            b"GET http://no-such-host.invalid/ HTTP/1.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")


async def test_refused_connection_gets_502(proxy: ProxyServer) -> None:
    port = await _closed_port()
    answer = await exchange(proxy.address, f"GET http://127.0.0.1:{port}/ HTTP/1.1\r\n\r\n"
                            .encode())
    assert answer.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")


async def test_origin_that_hangs_up_gets_502(proxy: ProxyServer) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        answer = await exchange(proxy.address,
                                f"GET http://127.0.0.1:{port}/ HTTP/1.1\r\n\r\n".encode())
    finally:
        server.close()
    assert answer.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")


async def test_malformed_requests_get_their_status(proxy: ProxyServer, origin: Origin) -> None:
    assert (await exchange(proxy.address, b"GET /origin-form HTTP/1.1\r\n\r\n")).startswith(
        b"HTTP/1.1 400 Bad Request\r\n")
    huge = b"GET http://a/ HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 70_000 + b"\r\n\r\n"
    assert (await exchange(proxy.address, huge)).startswith(b"HTTP/1.1 431 ")
    smuggle = (f"POST {origin.url('/')} HTTP/1.1\r\nContent-Length: 1\r\n"
               f"Transfer-Encoding: chunked\r\n\r\n").encode()
    assert (await exchange(proxy.address, smuggle)).startswith(b"HTTP/1.1 400 ")
    assert origin.requests == []
    assert proxy.counters.handshake_failures == 3


async def _closed_port() -> int:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    server.close()
    await asyncio.wait_for(server.wait_closed(), TIMEOUT)
    return port


async def test_one_client_connection_reaches_several_origins_in_turn(proxy: ProxyServer,
                                                                     origin: Origin) -> None:
    # Each request goes where its own URI says, even on a connection kept alive.
    async with origin_on("127.0.0.1") as other:
        raw = (f"GET {origin.url('/1')} HTTP/1.1\r\n\r\n"
               f"GET {other.url('/2')} HTTP/1.1\r\n\r\n"
               f"GET {origin.url('/3')} HTTP/1.1\r\nConnection: close\r\n\r\n").encode()
        answer = await exchange(proxy.address, raw)
    assert answer.count(b"HTTP/1.1 200 OK") == 3
    assert [path for _, path, _ in origin.requests] == ["/1", "/3"]
    assert [path for _, path, _ in other.requests] == ["/2"]
    assert b"host=127.0.0.1:%d" % other.port in answer


async def test_a_large_response_arrives_whole_through_a_slow_reader(proxy: ProxyServer,
                                                                    origin: Origin) -> None:
    size = 32 * 1024 * 1024
    async with asyncio.timeout(TIMEOUT * 3):
        reader, writer = await asyncio.open_connection(*proxy.address)
        writer.write(f"GET {origin.url(f'/bytes/{size}')} HTTP/1.1\r\n\r\n"
                     f"GET {origin.url('/after')} HTTP/1.1\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        assert b"Content-Length: %d" % size in head
        received = hashlib.sha256()
        left = size
        while left:
            chunk = await reader.read(min(left, 1 << 16))
            assert chunk
            received.update(chunk)
            left -= len(chunk)
            if left > size // 2:
                await asyncio.sleep(0)  # a reader slower than the origin: back-pressure
        assert received.digest() == hashlib.sha256(pattern(size)).digest()
        second = await reader.readuntil(b"\r\n\r\n")
        assert second.startswith(b"HTTP/1.1 200 OK")
        writer.close()
    assert origin.connections == 1


async def test_an_upgrade_becomes_a_tunnel(proxy: ProxyServer) -> None:
    async def upgrading(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        assert b"Upgrade: echo" in head
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n"
                     b"Upgrade: echo\r\n\r\nhello ")
        while data := await reader.read(1024):
            writer.write(data.upper())
        writer.close()

    async with serving(upgrading) as port:
        reader, writer = await asyncio.open_connection(*proxy.address)
        writer.write(f"GET http://127.0.0.1:{port}/ws HTTP/1.1\r\nConnection: upgrade\r\n"
                     f"Upgrade: echo\r\n\r\n".encode())
        async with asyncio.timeout(TIMEOUT):
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101 ")
            assert await reader.readexactly(6) == b"hello "
            writer.write(b"tunnelled")
            assert await reader.readexactly(9) == b"TUNNELLED"
        writer.close()


async def test_an_early_answer_to_an_unread_body_ends_both_connections(
        proxy: ProxyServer) -> None:
    async def refusing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 413 Too Large\r\nContent-Length: 4\r\n\r\nnope")
        await writer.drain()
        await reader.read()  # the proxy must give up on the rest of the body
        writer.close()

    async with serving(refusing) as port:
        reader, writer = await asyncio.open_connection(*proxy.address)
        writer.write(f"PUT http://127.0.0.1:{port}/ HTTP/1.1\r\nContent-Length: 100000000\r\n"
                     f"\r\n".encode() + b"x" * 1000)
        async with asyncio.timeout(TIMEOUT):
            answer = await reader.read()  # and the client connection closes after it
        writer.close()
    assert answer.startswith(b"HTTP/1.1 413 Too Large\r\n")
    assert answer.endswith(b"nope")
    assert b"Connection: close" in answer


async def test_an_origin_silent_past_the_idle_timeout_gets_504(origin: Origin) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    config = ListenerConfig(protocols=ALL_PROTOCOLS, idle_timeout=0.3)
    async with ProxyServer(config) as proxy, serving(silent) as port:
        answer = await exchange(proxy.address,
                                f"GET http://127.0.0.1:{port}/ HTTP/1.1\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 504 Gateway Timeout\r\n")


async def test_kept_alive_client_connections_close_after_the_idle_timeout(
        origin: Origin) -> None:
    config = ListenerConfig(protocols=ALL_PROTOCOLS, idle_timeout=0.3)
    async with ProxyServer(config) as proxy:
        reader, writer = await asyncio.open_connection(*proxy.address)
        writer.write(f"GET {origin.url('/x')} HTTP/1.1\r\n\r\n".encode())
        async with asyncio.timeout(TIMEOUT):
            await reader.readuntil(b"\r\n\r\n")
            assert (await reader.read()).startswith(b"GET /x")  # the body, then EOF
        writer.close()
        await eventually(lambda: proxy.counters.connections_active == 0)
