"""A target on loopback for the gateway tests: HTTP/1.1 with keep-alive, written apart from
`proxyfleet.wire`. `GET /` answers 200 with the peer address it saw (the exit's egress
address, for a farm proxy); `GET /status/NNN` answers NNN the same way; `/bytes/N` sends N
bytes; `/silent` closes the connection without a byte. Any other first line is answered as
raw TCP would be: the bytes echoed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


@dataclass
class Target:
    host: str = "127.0.0.1"
    port: int = 0
    peers: list[str] = field(default_factory=list)

    def url(self, path: str = "/", host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")[0]
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                _, path, _ = head.split("\r\n", 1)[0].split(" ")
                length = next((int(line.split(":", 1)[1]) for line in head.split("\r\n")
                               if line.lower().startswith("content-length:")), 0)
                await reader.readexactly(length)
                self.peers.append(peer)
                if path == "/silent":
                    break
                writer.write(self._answer(path, peer))
                await writer.drain()
                if "connection: close" in head.lower():
                    break
        writer.close()

    @staticmethod
    def _answer(path: str, peer: str) -> bytes:
        status = 200
        body = f"peer={peer}".encode()
        if path.startswith("/status/"):
            status = int(path.rsplit("/", 1)[1])
        elif path.startswith("/bytes/"):
            body = b"x" * int(path.rsplit("/", 1)[1])
        return (f"HTTP/1.1 {status} Whatever\r\nContent-Length: {len(body)}\r\n\r\n").encode() \
            + body


@contextlib.asynccontextmanager
async def target_on(host: str = "127.0.0.1") -> AsyncIterator[Target]:
    target = Target(host)
    server = await asyncio.start_server(target.handle, host, 0)
    target.port = server.sockets[0].getsockname()[1]
    try:
        yield target
    finally:
        server.close()
