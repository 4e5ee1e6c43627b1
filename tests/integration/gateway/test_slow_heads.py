"""Slowloris on a kept-alive connection: after one complete exchange, a client that sends the
next request head a byte at a time must be cut off once the handshake time has passed since
the head began, however steadily the bytes come; a client that is simply quiet between
requests is idle, not late, and is served when its next request comes."""

from __future__ import annotations

import asyncio
import contextlib

from proxyfleet.gateway.engine import ListenerConfig
from proxyfleet.gateway.server import ProxyServer
from tests.integration.gateway.conftest import ALL_PROTOCOLS
from tests.integration.gateway.loopback import TIMEOUT, Origin, eventually

HANDSHAKE = 0.5
# Far longer than the test runs: only the head deadline can end the connection.
IDLE = 300.0


async def _first_exchange(origin: Origin, proxy: ProxyServer,
                          ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(*proxy.address)
    writer.write(f"GET {origin.url('/one')} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    async with asyncio.timeout(TIMEOUT):
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        assert (await reader.readexactly(length)).startswith(b"GET /one")
    return reader, writer


async def _trickle(writer: asyncio.StreamWriter, head: bytes, every: float) -> int:
    """Send `head` one byte every `every` seconds; how many bytes went before the proxy hung
    up (all of them if it never did)."""
    for sent, byte in enumerate(head):
        try:
            writer.write(bytes([byte]))
            await writer.drain()
        except ConnectionError:
            return sent
        await asyncio.sleep(every)
        if writer.transport.is_closing():
            return sent
    return len(head)


async def test_a_later_head_sent_a_byte_at_a_time_is_cut_off(origin: Origin) -> None:
    config = ListenerConfig(protocols=ALL_PROTOCOLS, handshake_timeout=HANDSHAKE,
                            idle_timeout=IDLE)
    async with ProxyServer(config) as proxy:
        reader, writer = await _first_exchange(origin, proxy)
        # About 20 s of bytes at 0.05 s each: far past the handshake time, well inside idle.
        head = f"GET {origin.url('/two')} HTTP/1.1\r\nX-Pad: {'a' * 400}\r\n\r\n".encode()
        trickling = asyncio.ensure_future(_trickle(writer, head, 0.05))
        async with asyncio.timeout(TIMEOUT * 3):
            with contextlib.suppress(ConnectionError):
                rest = await reader.read()
                assert rest == b""  # no response to a head that never finished in time
        trickling.cancel()
        writer.close()
        await eventually(lambda: proxy.counters.connections_active == 0)
        assert proxy.counters.handshake_failures == 1
    assert [path for _, path, _ in origin.requests] == ["/one"]


async def test_a_quiet_kept_alive_connection_is_idle_not_late(origin: Origin) -> None:
    config = ListenerConfig(protocols=ALL_PROTOCOLS, handshake_timeout=HANDSHAKE,
                            idle_timeout=IDLE)
    async with ProxyServer(config) as proxy:
        reader, writer = await _first_exchange(origin, proxy)
        await asyncio.sleep(HANDSHAKE * 3)  # quiet, with no head begun
        writer.write(f"GET {origin.url('/two')} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        async with asyncio.timeout(TIMEOUT):
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200 OK")
        writer.close()
    assert [path for _, path, _ in origin.requests] == ["/one", "/two"]


async def test_a_later_head_split_in_two_but_in_time_is_served(origin: Origin) -> None:
    config = ListenerConfig(protocols=ALL_PROTOCOLS, handshake_timeout=TIMEOUT,
                            idle_timeout=IDLE)
    async with ProxyServer(config) as proxy:
        reader, writer = await _first_exchange(origin, proxy)
        head = f"GET {origin.url('/two')} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        writer.write(head[:10])
        await asyncio.sleep(0.1)
        writer.write(head[10:])
        async with asyncio.timeout(TIMEOUT):
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200 OK")
        writer.close()
    assert [path for _, path, _ in origin.requests] == ["/one", "/two"]
