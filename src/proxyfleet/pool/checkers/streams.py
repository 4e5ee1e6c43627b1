"""Reading handshake and HTTP bytes off asyncio streams, with stream errors turned into
`HandshakeError`s that say what we were waiting for.

The caller bounds the time (one deadline per check); these only bound the size.
Imports only this package and the standard library.
"""

from __future__ import annotations

import asyncio

from proxyfleet.pool.checkers.errors import HandshakeError
from proxyfleet.pool.checkers.handshakes import parse_http_head

MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 256 * 1024


async def send(writer: asyncio.StreamWriter, message: bytes) -> None:
    writer.write(message)
    await writer.drain()


async def read_exactly(reader: asyncio.StreamReader, size: int, waiting_for: str) -> bytes:
    try:
        return await reader.readexactly(size)
    except asyncio.IncompleteReadError as error:
        raise _closed(waiting_for, error.partial) from None


async def read_head(
    reader: asyncio.StreamReader, waiting_for: str
) -> tuple[int, str, list[tuple[str, str]]]:
    """Status, reason and headers of the HTTP response the stream starts with."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        raise _closed(waiting_for, error.partial) from None
    except asyncio.LimitOverrunError:
        raise HandshakeError(f"{waiting_for}: response head too long") from None
    if len(head) > MAX_HEAD_BYTES:
        raise HandshakeError(f"{waiting_for}: response head too long")
    return parse_http_head(head[:-4])


async def read_body(
    reader: asyncio.StreamReader, headers: list[tuple[str, str]], waiting_for: str
) -> bytes:
    """The body: `Content-Length` bytes when declared, else everything up to the close."""
    length = _content_length(headers)
    if length is None:
        return await _read_to_close(reader, waiting_for)
    if length > MAX_BODY_BYTES:
        raise _too_large(waiting_for)
    return await read_exactly(reader, length, waiting_for)


async def _read_to_close(reader: asyncio.StreamReader, waiting_for: str) -> bytes:
    body = bytearray()
    while chunk := await reader.read(64 * 1024):
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _too_large(waiting_for)
    return bytes(body)


def _too_large(waiting_for: str) -> HandshakeError:
    return HandshakeError(f"{waiting_for}: body larger than {MAX_BODY_BYTES} bytes")


def _content_length(headers: list[tuple[str, str]]) -> int | None:
    for name, value in headers:
        if name.lower() == "content-length":
            if not value.isdigit():
                raise HandshakeError(f"bad Content-Length: {value[:20]!r}")
            return int(value)
    return None


def _closed(waiting_for: str, partial: bytes) -> HandshakeError:
    got = f" after {len(partial)} bytes" if partial else ""
    return HandshakeError(f"connection closed{got} while waiting for {waiting_for}")
