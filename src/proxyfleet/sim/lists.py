"""A proxy list server on loopback, with the good and bad behaviours of real list hosts.

`ListServer` is a small HTTP/1.1 server on asyncio streams (one request per connection, then
close), started as an async context manager on 127.0.0.1 and a free port. Each path is served
by a `Behaviour`: a fixed body, a generated list of any size streamed in chunks, a server
error, a slow answer, a connection cut mid-body, garbage bytes or a redirect.
Imports `core` and the standard library.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol
from urllib.parse import urlsplit

from proxyfleet.core.proxies import ProxyAddress, ProxyProtocol

HOST = "127.0.0.1"
MAX_REQUEST_HEAD = 16 * 1024


class Reply:
    """The response half of one connection; every write waits at most `io_timeout`."""

    def __init__(self, writer: asyncio.StreamWriter, io_timeout: float) -> None:
        self._writer = writer
        self._io_timeout = io_timeout
        self._chunked = False

    async def start(self, status: int, content_type: str, length: int | None = None,
                    extra: Mapping[str, str] | None = None) -> None:
        """The status line and headers; without a length the body is sent chunked."""
        self._chunked = length is None
        headers = {"Content-Type": content_type, "Connection": "close", **(extra or {})}
        if length is None:
            headers["Transfer-Encoding"] = "chunked"
        else:
            headers["Content-Length"] = str(length)
        lines = [f"HTTP/1.1 {status} {_phrase(status)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        await self._send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    async def write(self, data: bytes) -> None:
        if self._chunked:
            data = f"{len(data):x}\r\n".encode() + data + b"\r\n"
        await self._send(data)

    async def finish(self) -> None:
        if self._chunked:
            await self._send(b"0\r\n\r\n")

    async def _send(self, data: bytes) -> None:
        self._writer.write(data)
        async with asyncio.timeout(self._io_timeout):
            await self._writer.drain()


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class Behaviour(Protocol):
    """How one path answers."""

    async def respond(self, reply: Reply) -> None: ...


def _encoded(body: str | bytes) -> bytes:
    return body.encode() if isinstance(body, str) else body


@dataclass(frozen=True, slots=True)
class Body:
    """A fixed body with a content type and status."""

    body: str | bytes
    content_type: str = "text/plain; charset=utf-8"
    status: int = 200

    async def respond(self, reply: Reply) -> None:
        payload = _encoded(self.body)
        await reply.start(self.status, self.content_type, len(payload))
        await reply.write(payload)


@dataclass(frozen=True, slots=True)
class GeneratedList:
    """`count` distinct proxies, one per line, streamed `chunk_lines` at a time.

    Never more than one chunk exists at once, so a million-line list costs no memory.
    With `with_scheme`, lines read `socks5://10.0.0.1:1024`, else `10.0.0.1:1024`.
    """

    count: int
    protocol: ProxyProtocol = ProxyProtocol.HTTP
    with_scheme: bool = False
    chunk_lines: int = 2000
    content_type: str = "text/plain; charset=utf-8"

    def address_at(self, index: int) -> ProxyAddress:
        """The proxy on line `index` (distinct for up to 2**24 lines)."""
        octets = ".".join(str(index >> shift & 255) for shift in (16, 8, 0))
        return ProxyAddress(f"10.{octets}", 1024 + index % 64000, self.protocol)

    def line_at(self, index: int) -> str:
        address = self.address_at(index)
        return address.url() if self.with_scheme else address.netloc

    def _chunk(self, start: int) -> bytes:
        stop = min(start + self.chunk_lines, self.count)
        return "".join(f"{self.line_at(i)}\n" for i in range(start, stop)).encode()

    async def respond(self, reply: Reply) -> None:
        await reply.start(200, self.content_type)
        for start in range(0, self.count, self.chunk_lines):
            await reply.write(self._chunk(start))
        await reply.finish()


@dataclass(frozen=True, slots=True)
class Failing:
    """A server error, as list hosts under load give."""

    status: int = 500
    body: str = "Internal Server Error"

    async def respond(self, reply: Reply) -> None:
        await Body(self.body, status=self.status).respond(reply)


@dataclass(frozen=True, slots=True)
class Slow:
    """Waits `delay` seconds before answering with `then`: longer than a client will wait."""

    delay: float
    then: Behaviour = field(default_factory=lambda: Body(""))

    async def respond(self, reply: Reply) -> None:
        await asyncio.sleep(self.delay)
        await self.then.respond(reply)


@dataclass(frozen=True, slots=True)
class CutOff:
    """Announces the whole body's length, sends `sent_bytes` of it, then closes."""

    body: str | bytes
    sent_bytes: int
    content_type: str = "text/plain; charset=utf-8"

    async def respond(self, reply: Reply) -> None:
        payload = _encoded(self.body)
        await reply.start(200, self.content_type, len(payload))
        await reply.write(payload[: self.sent_bytes])


@dataclass(frozen=True, slots=True)
class Garbage:
    """`size` random bytes, the same for the same `seed`."""

    size: int = 4096
    seed: int = 0
    content_type: str = "application/octet-stream"

    async def respond(self, reply: Reply) -> None:
        # A seeded generator, so a failing test sees the same bytes again; not for secrets.
        payload = random.Random(self.seed).randbytes(self.size)
        await Body(payload, self.content_type).respond(reply)


@dataclass(frozen=True, slots=True)
class Redirect:
    """A redirect to `location` (a path on this server or a full URL)."""

    location: str
    status: int = 302

    async def respond(self, reply: Reply) -> None:
        await reply.start(self.status, "text/plain", 0, {"Location": self.location})


NOT_FOUND = Body("Not Found", status=404)


class ListServer:
    """Serves configured paths on 127.0.0.1; counts the requests each path receives."""

    def __init__(self, routes: Mapping[str, Behaviour] | None = None, *,
                 io_timeout: float = 10.0) -> None:
        self._routes: dict[str, Behaviour] = dict(routes or {})
        self._io_timeout = io_timeout
        self._server: asyncio.Server | None = None
        self._port: int | None = None
        self._connections: set[asyncio.Task[object]] = set()
        self.hits: Counter[str] = Counter()

    def route(self, path: str, behaviour: Behaviour) -> None:
        self._routes[path] = behaviour

    @property
    def port(self) -> int:
        """The port it listens on; still known after it stops, so URLs can be compared."""
        if self._port is None:
            raise RuntimeError("the list server has not been started")
        return self._port

    def url(self, path: str = "/") -> str:
        return f"http://{HOST}:{self.port}{path}"

    async def __aenter__(self) -> ListServer:
        # The stream limit caps the request head: a longer one raises LimitOverrunError.
        self._server = await asyncio.start_server(self._serve, HOST, 0, limit=MAX_REQUEST_HEAD)
        self._port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        if self._server is not None:
            self._server.close()
        # Slow behaviours may still be sleeping; they end with the server, not after it.
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            await self._answer(reader, writer)
        finally:
            writer.close()
            if task is not None:
                self._connections.discard(task)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A client that goes away or sends junk ends its own connection, never the server.
        with contextlib.suppress(OSError, TimeoutError, ValueError,
                                 asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            path = await self._read_path(reader)
            self.hits[path] += 1
            behaviour = self._routes.get(path, NOT_FOUND)
            await behaviour.respond(Reply(writer, self._io_timeout))

    async def _read_path(self, reader: asyncio.StreamReader) -> str:
        async with asyncio.timeout(self._io_timeout):
            head = await reader.readuntil(b"\r\n\r\n")
        _method, target, _version = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        return urlsplit(target).path or "/"
