"""Absolute-URI forwarding through the engine, with curl and raw sockets."""

from __future__ import annotations

import asyncio
from pathlib import Path

from proxyfleet.gateway.server import ProxyServer
from tests.integration.gateway.conftest import PASSWORD, USER, needs_curl
from tests.integration.gateway.loopback import TIMEOUT, Origin, curl, exchange, origin_on


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
