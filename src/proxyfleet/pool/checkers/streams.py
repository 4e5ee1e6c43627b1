"""Reading handshake and HTTP bytes off an asyncio stream pair, for callers that hold one
(`pool.reach`); the checks themselves speak through `link.ProxyLink`. `StreamLink` makes a
stream pair a `link.Link`, so the same handshakes run over either.

Stream errors become `HandshakeError`s that say what we were waiting for. The caller bounds
the time; these only bound the size. Imports only this package and the standard library.
"""

from __future__ import annotations

import asyncio

from proxyfleet.pool.checkers.errors import HandshakeError
from proxyfleet.pool.checkers.handshakes import parse_http_head
from proxyfleet.pool.checkers.link import HEAD_END, MAX_HEAD_BYTES, Head, closed_early


async def send(writer: asyncio.StreamWriter, message: bytes) -> None:
    writer.write(message)
    await writer.drain()


async def read_exactly(reader: asyncio.StreamReader, size: int, waiting_for: str) -> bytes:
    try:
        return await reader.readexactly(size)
    except asyncio.IncompleteReadError as error:
        raise closed_early(waiting_for, error.partial) from None


async def read_head(reader: asyncio.StreamReader, waiting_for: str) -> Head:
    """Status, reason and headers of the HTTP response the stream starts with."""
    try:
        head = await reader.readuntil(HEAD_END)
    except asyncio.IncompleteReadError as error:
        raise closed_early(waiting_for, error.partial) from None
    except asyncio.LimitOverrunError:
        raise HandshakeError(f"{waiting_for}: response head too long") from None
    if len(head) > MAX_HEAD_BYTES:
        raise HandshakeError(f"{waiting_for}: response head too long")
    return parse_http_head(head[:-len(HEAD_END)])


class StreamLink:
    """A `link.Link` over an asyncio stream pair."""

    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def send(self, message: bytes) -> None:
        self.writer.write(message)  # handshake messages are tiny: no flow control to wait for

    async def read_exactly(self, size: int, waiting_for: str) -> bytes:
        return await read_exactly(self.reader, size, waiting_for)

    async def read_head(self, waiting_for: str) -> Head:
        return await read_head(self.reader, waiting_for)
