"""Conversations over an asyncio stream pair, for callers that hold one (`pool.reach`); the
checks themselves run theirs in `link.ProxyLink`'s callbacks. `StreamLink` drives a
`conversation.Conversation` with awaits; `send` and `read_head` serve the plain HTTP exchange
that follows a tunnel.

Stream errors become `HandshakeError`s that say what we were waiting for. The caller bounds
the time; these only bound the size. Imports only this package and the standard library.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar, cast

from proxyfleet.pool.checkers import conversation as talk
from proxyfleet.pool.checkers.conversation import Conversation, Step
from proxyfleet.pool.checkers.handshakes import parse_http_head

_T = TypeVar("_T")
Head = tuple[int, str, list[tuple[str, str]]]


async def send(writer: asyncio.StreamWriter, message: bytes) -> None:
    writer.write(message)
    await writer.drain()


async def read_exactly(reader: asyncio.StreamReader, size: int, waiting_for: str) -> bytes:
    try:
        return await reader.readexactly(size)
    except asyncio.IncompleteReadError as error:
        raise talk.closed_early(waiting_for, error.partial) from None


async def read_head_bytes(reader: asyncio.StreamReader, waiting_for: str) -> bytes:
    """The head of the HTTP response the stream starts with, without its blank line."""
    try:
        head = await reader.readuntil(talk.HEAD_END)
    except asyncio.IncompleteReadError as error:
        raise talk.closed_early(waiting_for, error.partial) from None
    except asyncio.LimitOverrunError:
        raise talk.head_too_long(waiting_for) from None
    if len(head) > talk.MAX_HEAD_BYTES:
        raise talk.head_too_long(waiting_for)
    return head[:-len(talk.HEAD_END)]


async def read_head(reader: asyncio.StreamReader, waiting_for: str) -> Head:
    """Status, reason and headers of the HTTP response the stream starts with."""
    return parse_http_head(await read_head_bytes(reader, waiting_for))


async def read_to_close(reader: asyncio.StreamReader, waiting_for: str) -> bytes:
    body = bytearray()
    while chunk := await reader.read(64 * 1024):
        body += chunk
        if len(body) > talk.MAX_BODY_BYTES:
            raise talk.too_large(waiting_for)
    return bytes(body)


class StreamLink:
    """Runs conversations over an asyncio stream pair."""

    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def converse(self, conversation: Conversation[_T]) -> _T:
        answer: bytes | None = None
        try:
            while True:
                step = conversation.send(answer)  # type: ignore[arg-type]  # None starts it
                if step.message:
                    # Handshake messages are tiny: no flow control to wait for.
                    self.writer.write(step.message)
                answer = await self._read(step)
        except StopIteration as finished:
            return cast(_T, finished.value)
        finally:
            conversation.close()

    async def _read(self, step: Step) -> bytes:
        if step.size == talk.HEAD:
            return await read_head_bytes(self.reader, step.waiting_for)
        if step.size == talk.TO_CLOSE:
            return await read_to_close(self.reader, step.waiting_for)
        return await read_exactly(self.reader, step.size, step.waiting_for)
