"""Relay benchmark: one bulk stream (MB/s) direct and through the proxy engine (HTTP CONNECT,
SOCKS5), against a plain asyncio-streams relay for comparison, and small HTTP requests per
second on new and kept-alive connections, direct and forwarded by the engine.

The proxy and the origin run in processes of their own, so the engine has a core to itself.
Every figure comes from a fixed-length run (--seconds). Usage:

    .venv/bin/python bench/relay.py [--seconds 2] [--loop asyncio|uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, cast

from proxyfleet.gateway.engine import ListenerConfig, ListenerProtocol
from proxyfleet.gateway.server import ProxyServer
from proxyfleet.runtime import tune_collector
from proxyfleet.wire.handshake import NEED_DATA, ClientHandshake
from proxyfleet.wire.http_connect import HttpConnectClient
from proxyfleet.wire.socks5_client import Socks5Client
from proxyfleet.wire.target import Target

BLOCK = 1 << 20
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
CLOSING_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
CONCURRENCY = 8


def _use_loop(kind: str) -> None:
    if kind == "uvloop":
        import uvloop

        uvloop.install()


# The processes under test.

def _serve_in_process(kind: str, loop: str, report: Connection) -> None:
    _use_loop(loop)
    asyncio.run(_SERVERS[kind](report))


async def _engine(report: Connection) -> None:
    tune_collector()  # as `proxyfleet serve` does, whose process the engine runs in
    config = ListenerConfig(protocols=frozenset(ListenerProtocol), max_connections=10_000)
    async with ProxyServer(config) as proxy:
        report.send(proxy.address[1])
        await asyncio.Event().wait()


async def _streams_relay(report: Connection) -> None:
    """The naive design the engine is measured against: a SOCKS5-less TCP forwarder to a
    fixed target, one read/write/drain coroutine per direction."""
    target_port: int = report.recv()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1 << 18):
            writer.write(data)
            await writer.drain()
        writer.write_eof()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        writer.close()
        up_writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    report.send(server.sockets[0].getsockname()[1])
    await asyncio.Event().wait()


class _OriginProtocol(asyncio.Protocol):
    """Answers every request head with a two-byte body; fast enough not to be the limit."""

    def __init__(self) -> None:
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        self._buffer += data
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            head, self._buffer = self._buffer[:end], self._buffer[end + 4:]
            if b"close" in head.lower():
                self._transport.write(CLOSING_RESPONSE)
                self._transport.close()
                return
            self._transport.write(RESPONSE)


async def _origin(report: Connection) -> None:
    server = await asyncio.get_running_loop().create_server(_OriginProtocol, "127.0.0.1", 0)
    report.send(server.sockets[0].getsockname()[1])
    await asyncio.Event().wait()


_SERVERS: dict[str, Callable[[Connection], Coroutine[Any, Any, None]]] = {
    "engine": _engine, "streams": _streams_relay, "origin": _origin}


@dataclass
class Child:
    process: multiprocessing.process.BaseProcess
    port: int
    pipe: Connection


def _start(kind: str, loop: str, send_first: int | None = None) -> Child:
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_serve_in_process, args=(kind, loop, theirs), daemon=True)
    process.start()
    if send_first is not None:
        ours.send(send_first)
    if not ours.poll(20):
        raise RuntimeError(f"{kind} did not start")
    return Child(process, ours.recv(), ours)


# Bulk throughput.

class _Sink(asyncio.BufferedProtocol):
    """Counts what arrives, read into one reused buffer as a measuring tool should (iperf
    does): a bytes object per read would make the sink, not the path, the limit."""

    def __init__(self, done: asyncio.Future[tuple[int, float]]) -> None:
        self._done = done
        self._received = 0
        self._buffer = memoryview(bytearray(BLOCK))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        self._received += nbytes

    def eof_received(self) -> None:
        if not self._done.done():
            self._done.set_result((self._received, time.perf_counter()))


def _sink_factory(done: asyncio.Future[tuple[int, float]]) -> Callable[[], _Sink]:
    return lambda: _Sink(done)


async def _handshake(port: int, handshake: ClientHandshake | None,
                     ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while handshake is not None:
        event = handshake.next_event()
        writer.write(handshake.data_to_send())
        if event is not NEED_DATA:
            break
        handshake.receive_data(await reader.read(4096))
    return reader, writer


async def bulk(port: int, make: Callable[[Target], ClientHandshake] | None,
               sink_port: int, done: asyncio.Future[tuple[int, float]], seconds: float,
               ) -> float:
    async with asyncio.timeout(seconds + 30):
        handshake = make(Target("127.0.0.1", sink_port)) if make else None
        _, writer = await _handshake(port, handshake)
        block = bytes(BLOCK)
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            writer.write(block)
            await writer.drain()
        writer.write_eof()
        received, end = await done
        writer.close()
    return received / (end - start) / 1e6


async def bulk_rows(engine: int, streams: Child | None, seconds: float) -> list[tuple[str, float]]:
    rows = []
    loop = asyncio.get_running_loop()
    cases: list[tuple[str, int | None, Callable[[Target], ClientHandshake] | None]] = [
        ("direct", None, None), ("engine, HTTP CONNECT", engine, HttpConnectClient),
        ("engine, SOCKS5", engine, Socks5Client),
        ("plain streams relay (comparison)", streams.port if streams else None, None)]
    for name, port, make in cases:
        if name.startswith("plain") and streams is None:
            continue
        done: asyncio.Future[tuple[int, float]] = loop.create_future()
        sink = await loop.create_server(_sink_factory(done), "127.0.0.1",
                                        streams_target_port if name.startswith("plain") else 0)
        sink_port = sink.sockets[0].getsockname()[1]
        rows.append((name, await bulk(port or sink_port, make, sink_port, done, seconds)))
        sink.close()
    return rows


streams_target_port = 0


# Small requests.

async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> None:
    writer.write(request)
    await reader.readuntil(b"\r\n\r\n")
    await reader.readexactly(2)


async def _keep_alive_worker(port: int, request: bytes, deadline: float) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    count = 0
    while time.perf_counter() < deadline:
        await _get(reader, writer, request)
        count += 1
    writer.close()
    return count


async def _new_connection_worker(port: int, request: bytes, deadline: float) -> int:
    count = 0
    while time.perf_counter() < deadline:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await _get(reader, writer, request)
        writer.close()
        count += 1
    return count


async def rps(port: int, request: bytes, keep_alive: bool, seconds: float) -> float:
    worker = _keep_alive_worker if keep_alive else _new_connection_worker
    deadline = time.perf_counter() + seconds
    async with asyncio.timeout(seconds + 30):
        counts = await asyncio.gather(*(worker(port, request, deadline)
                                        for _ in range(CONCURRENCY)))
    return sum(counts) / seconds


async def request_rows(engine: int, origin: int, seconds: float) -> list[tuple[str, float]]:
    direct_keep = b"GET /x HTTP/1.1\r\nHost: o\r\n\r\n"
    direct_close = b"GET /x HTTP/1.1\r\nHost: o\r\nConnection: close\r\n\r\n"
    url = f"http://127.0.0.1:{origin}/x"
    proxied_keep = f"GET {url} HTTP/1.1\r\nHost: o\r\n\r\n".encode()
    proxied_close = f"GET {url} HTTP/1.1\r\nHost: o\r\nConnection: close\r\n\r\n".encode()
    return [
        ("direct, new connections", await rps(origin, direct_close, False, seconds)),
        ("engine forward, new connections", await rps(engine, proxied_close, False, seconds)),
        ("direct, kept alive", await rps(origin, direct_keep, True, seconds)),
        ("engine forward, kept alive", await rps(engine, proxied_keep, True, seconds)),
    ]


def _table(title: str, unit: str, rows: list[tuple[str, float]]) -> str:
    width = max(len(name) for name, _ in rows)
    lines = [f"{title:<{width}}  {unit:>10}", "-" * (width + 12)]
    lines += [f"{name:<{width}}  {value:>10,.0f}" for name, value in rows]
    return "\n".join(lines)


async def main(seconds: float, loop_kind: str) -> None:
    global streams_target_port
    engine = _start("engine", loop_kind)
    origin = _start("origin", loop_kind)
    # The streams relay forwards to a fixed port, where the bulk sink will listen.
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    streams_target_port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    streams = _start("streams", loop_kind, send_first=streams_target_port)
    try:
        print(f"proxy processes on {loop_kind}; {seconds:g} s per figure; "
              f"{CONCURRENCY} concurrent clients for requests\n")
        print(_table("one bulk stream over loopback", "MB/s",
                     await bulk_rows(engine.port, streams, seconds)))
        print()
        print(_table("small HTTP requests (2-byte body)", "req/s",
                     await request_rows(engine.port, origin.port, seconds)))
    finally:
        for child in (engine, origin, streams):
            child.process.terminate()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    arguments = parser.parse_args()
    _use_loop(arguments.loop)  # the clients run on the same kind of loop as the servers
    asyncio.run(main(arguments.seconds, arguments.loop))
