"""Real peers on loopback for the gateway tests: an asyncio HTTP/1.1 origin written apart from
`proxyfleet.wire` (so the engine is not checked against itself), raw TCP servers, and clients
that run the wire client handshakes over plain asyncio streams."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from proxyfleet.wire.handshake import NEED_DATA, ClientHandshake, Established

TIMEOUT = 10.0


@dataclass
class Origin:
    """An HTTP/1.1 origin that keeps connections alive and records who came."""

    host: str
    port: int = 0
    connections: int = 0
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def url(self, path: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        peer = writer.get_extra_info("peername")
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while await self._exchange(reader, writer, peer):
                pass
        writer.close()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        peer: tuple[str, int]) -> bool:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        lines = head.split("\r\n")
        method, path, _ = lines[0].split(" ")
        fields = (line.partition(":") for line in lines[1:] if line)
        headers = {name.lower(): value.strip() for name, _, value in fields}
        self.requests.append((method, path, headers))
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await _read_body(reader, headers)
        return await self._answer(writer, method, path, headers, body, peer)

    async def _answer(self, writer: asyncio.StreamWriter, method: str, path: str,
                      headers: dict[str, str], body: bytes, peer: tuple[str, int]) -> bool:
        keep = headers.get("connection", "").lower() != "close"
        if path == "/chunked":
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"5\r\nhello\r\n7\r\n chunks\r\n0\r\n\r\n")
        elif path == "/until-close":
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")
            keep = False
        elif path.startswith("/bytes/"):
            size = int(path.rsplit("/", 1)[1])
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
            writer.write(pattern(size))
        else:
            text = (f"{method} {path} from {peer[0]} host={headers.get('host')} "
                    f"body={hashlib.sha256(body).hexdigest()[:16]}:{len(body)}").encode()
            payload = b"" if method == "HEAD" else text
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(text) + payload)
        await writer.drain()
        return keep


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            body += await reader.readexactly(size)
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")
        return body
    return await reader.readexactly(int(headers.get("content-length", "0")))


def pattern(size: int) -> bytes:
    """Deterministic bytes that are not all alike, so a misplaced block would show."""
    block = hashlib.sha256(b"proxyfleet").digest() * 2048
    return (block * (size // len(block) + 1))[:size]


@contextlib.asynccontextmanager
async def serving(handler: object, host: str = "127.0.0.1") -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, host, 0)  # type: ignore[arg-type]
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


@contextlib.asynccontextmanager
async def origin_on(host: str = "127.0.0.1") -> AsyncIterator[Origin]:
    origin = Origin(host)
    async with serving(origin.handle, host) as port:
        origin.port = port
        yield origin


async def hash_and_reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read to EOF, then answer with the sha256 and length of what came: proves half-close."""
    digest, size = hashlib.sha256(), 0
    while chunk := await reader.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    writer.write(f"{digest.hexdigest()} {size}".encode())
    await writer.drain()
    writer.close()


async def open_tunnel(proxy: tuple[str, int], handshake: ClientHandshake,
                      ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, Established]:
    """Connect to the proxy and run a wire client handshake to completion."""
    async with asyncio.timeout(TIMEOUT):
        reader, writer = await asyncio.open_connection(*proxy)
        while True:
            try:
                event = handshake.next_event()
            except Exception:
                writer.close()
                raise
            writer.write(handshake.data_to_send())
            if event is not NEED_DATA:
                return reader, writer, event
            data = await reader.read(65536)
            if not data:
                writer.close()
                raise ConnectionError("proxy closed during the handshake")
            handshake.receive_data(data)


async def exchange(proxy: tuple[str, int], raw: bytes) -> bytes:
    """Send raw bytes and half-close, then return all the proxy says until it closes."""
    async with asyncio.timeout(TIMEOUT):
        reader, writer = await asyncio.open_connection(*proxy)
        answer = b""
        # A proxy that turns the connection away may have reset it already.
        with contextlib.suppress(ConnectionError, OSError):
            writer.write(raw)
            writer.write_eof()
            answer = await reader.read()
        writer.close()
        return answer


async def curl(*args: str) -> tuple[int, bytes, str]:
    process = await asyncio.create_subprocess_exec(
        "curl", "-sS", "--max-time", "10", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(TIMEOUT + 5):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out, err.decode()


async def eventually(condition: object, within: float = TIMEOUT) -> None:
    """Wait until `condition()` holds: for state the engine updates as connections end."""
    async with asyncio.timeout(within):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)
