"""The listener as a whole: limits, bad input, counters, timeouts and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from proxyfleet.gateway.engine import ListenerConfig, ListenerProtocol
from proxyfleet.gateway.server import ProxyServer
from proxyfleet.wire.http_connect import HttpConnectClient, connect_request
from proxyfleet.wire.socks5_client import Socks5Client
from proxyfleet.wire.target import Target
from tests.integration.gateway.conftest import needs_curl
from tests.integration.gateway.loopback import (
    TIMEOUT,
    Origin,
    curl,
    eventually,
    exchange,
    hash_and_reply,
    open_tunnel,
    serving,
)

MALFORMED = [  # what a client sends, and how the answer starts
    (b"\x00" * 10, b"HTTP/1.1 400 "),
    (b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 400 "),
    (b"CONNECT x HTTP/1.1\r\n\r\n", b"HTTP/1.1 400 "),
    (b"\r\n\r\n", b"HTTP/1.1 400 "),
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"HTTP/1.1 505 "),
    (b"\x05\xff" + bytes(300), b"\x05\x00\x05\x01"),
    (b"\x04\x09\x00\x50\x7f\x00\x00\x01\x00", b"\x00\x5b"),
    (b"\xff\xfe\xfd", b"HTTP/1.1 400 "),
    (b"\x05\x00", b"\x05\xff"),
    (b"\x16\x03\x01\x02\x00\x01\x00", b"HTTP/1.1 400 "),
]
TRUNCATED = [b"\x05", b"\x05\x01", b"\x04\x01", b"GET", b"GET http://a/ HTTP/1.1\r\n"]


async def test_garbage_never_kills_the_listener(proxy: ProxyServer, origin: Origin) -> None:
    for raw, answer in MALFORMED:
        assert (await exchange(proxy.address, raw)).startswith(answer)
    for raw in TRUNCATED:
        assert await exchange(proxy.address, raw) == b""
    await eventually(lambda: proxy.counters.connections_active == 0)
    _, writer, _ = await open_tunnel(proxy.address,
                                     Socks5Client(Target("127.0.0.1", origin.port)))
    writer.close()
    assert proxy.counters.connections_total == len(MALFORMED) + len(TRUNCATED) + 1
    assert proxy.counters.handshake_failures == len(MALFORMED)


async def test_a_single_protocol_listener_answers_strangers_in_its_own_terms() -> None:
    async with ProxyServer(ListenerConfig(protocols=frozenset({ListenerProtocol.HTTP}))) as http:
        assert (await exchange(http.address, b"\x05\x01\x00")).startswith(b"HTTP/1.1 400 ")


async def test_connection_limit_turns_away_the_surplus(origin: Origin) -> None:
    async with ProxyServer(ListenerConfig(max_connections=2)) as proxy:
        target = Target("127.0.0.1", origin.port)
        held = [await open_tunnel(proxy.address, HttpConnectClient(target)) for _ in range(2)]
        assert await exchange(proxy.address, connect_request(target)) == b""
        assert proxy.counters.connections_rejected == 1
        held[0][1].close()
        await eventually(lambda: proxy.counters.connections_active == 1)
        _, writer, _ = await open_tunnel(proxy.address, HttpConnectClient(target))
        writer.close()
        held[1][1].close()
        assert proxy.counters.connections_total == 3


async def test_counters_count_connections_and_bytes(proxy: ProxyServer) -> None:
    before = time.time()
    async with serving(hash_and_reply) as port:
        request = connect_request(Target("127.0.0.1", port))
        reader, writer, _ = await open_tunnel(proxy.address,
                                              HttpConnectClient(Target("127.0.0.1", port)))
        assert proxy.counters.connections_active == 1
        writer.write(b"x" * 1000)
        writer.write_eof()
        async with asyncio.timeout(TIMEOUT):
            verdict = await reader.read()
        writer.close()
    await eventually(lambda: proxy.counters.connections_active == 0)
    counters = proxy.counters.snapshot()
    assert counters.connections_total == 1
    assert counters.bytes_received == len(request) + 1000
    assert counters.bytes_sent == len(verdict)
    assert counters.last_activity is not None
    assert counters.last_activity >= before


@pytest.mark.parametrize("start", [
    b"",  # nothing at all
    b"\x05\x01",  # half a SOCKS5 greeting
    b"\x05\x01\x00\x05\x01\x00\x01\x7f",  # a greeting, then half a request
    b"\x04\x01\x00\x50\x7f\x00",  # half a SOCKS4 request
    b"GET http://example.com/ HTTP/1.1\r\nHost: exa",  # half an HTTP head
], ids=["silent", "socks5-greeting", "socks5-request", "socks4", "http"])
async def test_clients_that_stall_mid_handshake_are_dropped(start: bytes) -> None:
    protocols = frozenset(ListenerProtocol)
    async with ProxyServer(ListenerConfig(handshake_timeout=0.2, protocols=protocols)) as proxy:
        reader, writer = await asyncio.open_connection(*proxy.address)
        writer.write(start)
        async with asyncio.timeout(TIMEOUT):
            rest = await reader.read()
        writer.close()
        await eventually(lambda: proxy.counters.connections_active == 0)
    assert rest in (b"", b"\x05\x00")  # at most the SOCKS5 method choice, then the close


async def test_the_handshake_has_one_deadline_from_admission(origin: Origin) -> None:
    # The greeting comes late but in time; the request would still be in time if the
    # session started a fresh handshake window when the greeting arrived, but it is not
    # within handshake_timeout of the connection's admission.
    async with ProxyServer(ListenerConfig(handshake_timeout=1.0)) as proxy:
        reader, writer = await asyncio.open_connection(*proxy.address)
        await asyncio.sleep(0.7)
        writer.write(b"\x05\x01\x00")
        async with asyncio.timeout(TIMEOUT):
            assert await reader.readexactly(2) == b"\x05\x00"
        await asyncio.sleep(0.7)
        request = b"\x05\x01\x00\x01\x7f\x00\x00\x01" + origin.port.to_bytes(2, "big")
        with contextlib.suppress(ConnectionError):
            writer.write(request)
        async with asyncio.timeout(TIMEOUT):
            rest = await reader.read()
        writer.close()
    assert rest == b""  # closed at the deadline: no reply, no tunnel


async def test_authenticate_that_raises_counts_as_refusal(origin: Origin) -> None:
    def broken(username: str, password: str) -> bool:
        raise RuntimeError("directory down")

    async with ProxyServer(authenticate=broken) as proxy:
        answer = await exchange(proxy.address,
                                f"GET {origin.url('/')} HTTP/1.1\r\n"
                                f"Proxy-Authorization: Basic dTpw\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 407 ")


async def test_close_ends_open_tunnels(origin: Origin) -> None:
    proxy = ProxyServer()
    await proxy.start()
    reader, writer, _ = await open_tunnel(proxy.address,
                                          Socks5Client(Target("127.0.0.1", origin.port)))
    await proxy.close()
    async with asyncio.timeout(TIMEOUT):
        assert await reader.read() == b""
    writer.close()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(*proxy.address)


@needs_curl
async def test_curl_after_garbage(proxy: ProxyServer, origin: Origin) -> None:
    await exchange(proxy.address, b"\x05\x01\x00\x05\x01\x00\x09")
    host, port = proxy.address
    code, out, err = await curl("--socks5-hostname", f"{host}:{port}", origin.url("/ok"))
    assert code == 0, err
    assert out.startswith(b"GET /ok")
