"""Bulk data, half-close and idle timeouts through open tunnels. Bulk goes through both
relays: the kernel's (splice), which a tunnel moves to once it streams, and the Protocols'
alone (what a tunnel gets with bytes pending, or where splice is not to be had)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable

import pytest

from proxyfleet.gateway import leg
from proxyfleet.gateway.engine import ListenerConfig
from proxyfleet.gateway.leg import Leg
from proxyfleet.gateway.server import ProxyServer
from proxyfleet.gateway.splice import SpliceRelay
from proxyfleet.wire.handshake import ClientHandshake
from proxyfleet.wire.http_connect import HttpConnectClient
from proxyfleet.wire.socks5_client import Socks5Client
from proxyfleet.wire.target import Target
from tests.integration.gateway.loopback import (
    TIMEOUT,
    hash_and_reply,
    open_tunnel,
    pattern,
    serving,
)

BULK = 64 * 1024 * 1024
BLOCK = 1024 * 1024
HANDSHAKES: list[Callable[[Target], ClientHandshake]] = [HttpConnectClient, Socks5Client]


@pytest.fixture(params=["kernel", "protocols"])
def kernel_relays(request: pytest.FixtureRequest,
                  monkeypatch: pytest.MonkeyPatch) -> list[SpliceRelay | None]:
    """The test once with bulk streams moving to the kernel, once on the Protocols only;
    gives the kernel relays made."""
    if request.param == "protocols":
        monkeypatch.setattr(leg, "SPLICE_AVAILABLE", False)
    made: list[SpliceRelay | None] = []
    between = SpliceRelay.between

    def recording(first: Leg, second: Leg, idle_timeout: float) -> SpliceRelay | None:
        made.append(between(first, second, idle_timeout))
        return made[-1]

    monkeypatch.setattr(SpliceRelay, "between", staticmethod(recording))
    return made


async def _send_bulk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    data = pattern(BULK)
    for start in range(0, BULK, BLOCK):
        writer.write(data[start:start + BLOCK])
        await writer.drain()
    writer.close()


@pytest.mark.slow
@pytest.mark.parametrize("handshake", HANDSHAKES)
async def test_64_mib_each_way_arrive_intact(proxy: ProxyServer,
                                             handshake: Callable[[Target], ClientHandshake],
                                             kernel_relays: list[SpliceRelay | None],
                                             request: pytest.FixtureRequest) -> None:
    expected = hashlib.sha256(pattern(BULK)).hexdigest()
    async with serving(hash_and_reply) as sink_port, serving(_send_bulk) as source_port:
        upload, download = await asyncio.gather(
            _upload(proxy, handshake(Target("127.0.0.1", sink_port))),
            _download(proxy, handshake(Target("127.0.0.1", source_port))))
    assert upload == f"{expected} {BULK}"
    assert download == expected
    assert proxy.counters.bytes_received > BULK
    assert proxy.counters.bytes_sent > BULK
    # Both streams went over to the kernel mid-way, where splice is to be had.
    in_kernel = request.node.callspec.params["kernel_relays"] == "kernel"
    assert len(kernel_relays) == (2 if in_kernel else 0)
    assert all(relay is not None for relay in kernel_relays)


async def _upload(proxy: ProxyServer, handshake: ClientHandshake) -> str:
    """Send the bulk, half-close, and read the far side's verdict on the still-open half."""
    reader, writer, _ = await open_tunnel(proxy.address, handshake)
    data = pattern(BULK)
    async with asyncio.timeout(TIMEOUT * 3):
        for start in range(0, BULK, BLOCK):
            writer.write(data[start:start + BLOCK])
            await writer.drain()
        writer.write_eof()
        verdict = await reader.read()
    writer.close()
    return verdict.decode()


async def _download(proxy: ProxyServer, handshake: ClientHandshake) -> str:
    reader, writer, established = await open_tunnel(proxy.address, handshake)
    digest = hashlib.sha256(established.early_data)
    async with asyncio.timeout(TIMEOUT * 3):
        while chunk := await reader.read(BLOCK):
            digest.update(chunk)
    writer.close()
    return digest.hexdigest()


@pytest.mark.parametrize("handshake", HANDSHAKES)
async def test_half_close_keeps_the_other_direction_open(
        proxy: ProxyServer, handshake: Callable[[Target], ClientHandshake]) -> None:
    async with serving(hash_and_reply) as port:
        reader, writer, _ = await open_tunnel(proxy.address, handshake(Target("127.0.0.1", port)))
        writer.write(b"ping")
        writer.write_eof()
        async with asyncio.timeout(TIMEOUT):
            verdict = await reader.read()
        writer.close()
    assert verdict == f"{hashlib.sha256(b'ping').hexdigest()} 4".encode()


async def test_idle_tunnels_are_closed() -> None:
    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    config = ListenerConfig(idle_timeout=0.3)
    async with ProxyServer(config) as proxy, serving(hold) as port:
        reader, writer, _ = await open_tunnel(proxy.address, Socks5Client(Target("127.0.0.1",
                                                                                 port)))
        async with asyncio.timeout(TIMEOUT):
            assert await reader.read() == b""
        writer.close()
