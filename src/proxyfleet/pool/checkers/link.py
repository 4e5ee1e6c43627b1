"""A connection to a proxy for one check: `ProxyLink`, a bare asyncio `Protocol` that gathers
what arrives in one buffer and wakes the one reader waiting for it. `Link` is what the
handshakes (`tunnels`) need of a connection; `streams.StreamLink` offers the same over an
asyncio stream pair.

A check is a strict conversation (send, wait for the answer, send again), so one waiter and
one buffer are all it needs; a `StreamReader`/`StreamWriter` pair costs two more objects, a
lock-step `drain` and extra loop callbacks per message, which shows at thousands of checks a
second. Reads raise `HandshakeError`s that say what we were waiting for; the caller bounds the
time, these bound only the size. Imports this package and the standard library.
"""

from __future__ import annotations

import asyncio
from typing import Protocol, cast

from proxyfleet.pool.checkers.errors import HandshakeError
from proxyfleet.pool.checkers.handshakes import parse_http_head

MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 256 * 1024
HEAD_END = b"\r\n\r\n"

Head = tuple[int, str, list[tuple[str, str]]]


class Link(Protocol):
    """What a handshake needs of a connection: send a message, read answers off it."""

    def send(self, message: bytes) -> None: ...

    async def read_exactly(self, size: int, waiting_for: str) -> bytes: ...

    async def read_head(self, waiting_for: str) -> Head: ...


class ProxyLink(asyncio.Protocol):
    """One connection to a proxy, read through one buffer."""

    __slots__ = ("_buffer", "_closed", "_error", "_waiter", "transport")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._error: Exception | None = None

    # --- asyncio's side ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports quack like asyncio's without subclassing them: no isinstance.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._wake()

    def eof_received(self) -> bool:
        self._closed = True
        self._wake()
        return False  # a half-closed proxy has nothing more to say: close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._error = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def _more(self, waiting_for: str) -> None:
        """Wait for bytes beyond those in the buffer; raise once none can come."""
        if self._closed:
            if self._error is not None:
                raise self._error
            raise closed_early(waiting_for, self._buffer)
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        await waiter

    # --- the check's side --------------------------------------------------------------------

    def send(self, message: bytes) -> None:
        if self.transport is None or self._closed:
            raise HandshakeError("connection closed before we could speak")
        self.transport.write(message)

    async def read_exactly(self, size: int, waiting_for: str) -> bytes:
        while len(self._buffer) < size:
            await self._more(waiting_for)
        chunk = bytes(self._buffer[:size])
        del self._buffer[:size]
        return chunk

    async def read_head(self, waiting_for: str) -> Head:
        """Status, reason and headers of the HTTP response the connection carries next."""
        while (end := self._buffer.find(HEAD_END)) < 0:
            if len(self._buffer) > MAX_HEAD_BYTES:
                raise HandshakeError(f"{waiting_for}: response head too long")
            await self._more(waiting_for)
        if end > MAX_HEAD_BYTES:
            raise HandshakeError(f"{waiting_for}: response head too long")
        head = bytes(self._buffer[:end])
        del self._buffer[:end + len(HEAD_END)]
        return parse_http_head(head)

    async def read_body(self, headers: list[tuple[str, str]], waiting_for: str) -> bytes:
        """The body: `Content-Length` bytes when declared, else everything up to the close."""
        length = content_length(headers)
        if length is None:
            return await self._read_to_close(waiting_for)
        if length > MAX_BODY_BYTES:
            raise too_large(waiting_for)
        return await self.read_exactly(length, waiting_for)

    async def _read_to_close(self, waiting_for: str) -> bytes:
        while not self._closed:
            if len(self._buffer) > MAX_BODY_BYTES:
                raise too_large(waiting_for)
            await self._more(waiting_for)
        if len(self._buffer) > MAX_BODY_BYTES:
            raise too_large(waiting_for)
        body = bytes(self._buffer)
        self._buffer.clear()
        return body

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_link(host: str, port: int) -> ProxyLink:
    """A connected `ProxyLink`; `OSError` when nothing accepts the connection."""
    loop = asyncio.get_running_loop()
    _, link = await loop.create_connection(ProxyLink, host, port)
    return link


def content_length(headers: list[tuple[str, str]]) -> int | None:
    for name, value in headers:
        if name.lower() == "content-length":
            if not value.isdigit():
                raise HandshakeError(f"bad Content-Length: {value[:20]!r}")
            return int(value)
    return None


def too_large(waiting_for: str) -> HandshakeError:
    return HandshakeError(f"{waiting_for}: body larger than {MAX_BODY_BYTES} bytes")


def closed_early(waiting_for: str, partial: bytes | bytearray) -> HandshakeError:
    got = f" after {len(partial)} bytes" if partial else ""
    return HandshakeError(f"connection closed{got} while waiting for {waiting_for}")
