"""HTTP/1 body framing: how long a request or response body is (RFC 9112 §6.3) and the
`BodyScanner` that finds where a body ends in a byte stream without copying it.

Standard library only; imports nothing of the project.
"""

from __future__ import annotations

import enum
import re
from http import HTTPStatus
from typing import NamedTuple

from proxyfleet.wire.http_head import Headers, HttpError, RequestHead, ResponseHead

_MAX_CHUNK_LINE = 4096
_HEX_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")


class Framing(enum.Enum):
    EMPTY = "empty"
    LENGTH = "length"
    CHUNKED = "chunked"
    UNTIL_CLOSE = "until close"


class BodyLength(NamedTuple):
    framing: Framing
    length: int = 0


NO_BODY = BodyLength(Framing.EMPTY)


def request_body(head: RequestHead) -> BodyLength:
    """A request body is chunked, counted, or absent — never delimited by close."""
    return _body_length(head.headers, HTTPStatus.BAD_REQUEST, Framing.EMPTY)


def response_body(head: ResponseHead, request_method: str) -> BodyLength:
    if request_method == "HEAD" or head.status < 200 or head.status in (204, 304):
        return BodyLength(Framing.EMPTY)
    return _body_length(head.headers, HTTPStatus.BAD_GATEWAY, Framing.UNTIL_CLOSE)


def _body_length(headers: Headers, status: HTTPStatus, otherwise: Framing) -> BodyLength:
    codings = headers.tokens("Transfer-Encoding")
    lengths = headers.get_all("Content-Length")
    if codings:
        # Both framings at once is how requests get smuggled past a proxy: refuse it.
        if lengths:
            raise HttpError(status, "both Transfer-Encoding and Content-Length")
        if codings[-1] != "chunked":
            if otherwise is Framing.EMPTY:
                raise HttpError(HTTPStatus.NOT_IMPLEMENTED, f"transfer coding {codings[-1]}")
            return BodyLength(Framing.UNTIL_CLOSE)
        return BodyLength(Framing.CHUNKED)
    if lengths:
        return BodyLength(Framing.LENGTH, _content_length(lengths, status))
    return BodyLength(otherwise)


def _content_length(values: list[str], status: HTTPStatus) -> int:
    distinct = {part.strip() for value in values for part in value.split(",")}
    if len(distinct) != 1:
        raise HttpError(status, "conflicting Content-Length")
    text = distinct.pop()
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise HttpError(status, f"bad Content-Length {text[:20]!r}")
    return int(text)


class _Chunk(enum.Enum):
    SIZE = "size line"
    DATA = "data"
    DATA_END = "CRLF after data"
    TRAILER = "trailer line"
    DONE = "done"


class BodyScanner:
    """Tells how much of each chunk of bytes belongs to one body; the body itself is left to
    the caller to pass on untouched, so a chunked body keeps its own encoding."""

    def __init__(self, length: BodyLength, error_status: HTTPStatus) -> None:
        self._framing = length.framing
        self._remaining = length.length
        self._status = error_status
        self._state = _Chunk.SIZE
        self._line = bytearray()
        self.done = length.framing is Framing.EMPTY or (
            length.framing is Framing.LENGTH and length.length == 0)

    @property
    def ends_at_close(self) -> bool:
        """The body runs until the connection closes: EOF completes it."""
        return self._framing is Framing.UNTIL_CLOSE

    def feed(self, data: bytes) -> int:
        """How many leading bytes of `data` belong to the body; sets `done` at its end."""
        if self.done:
            return 0
        if self._framing is Framing.UNTIL_CLOSE:
            return len(data)
        if self._framing is Framing.LENGTH:
            used = min(len(data), self._remaining)
            self._remaining -= used
            self.done = self._remaining == 0
            return used
        return self._feed_chunked(data)

    def _feed_chunked(self, data: bytes) -> int:
        position = 0
        while position < len(data) and not self.done:
            if self._state is _Chunk.DATA:
                used = min(len(data) - position, self._remaining)
                self._remaining -= used
                position += used
                if self._remaining == 0:
                    self._state = _Chunk.DATA_END
                continue
            position = self._feed_line(data, position)
        return position

    def _feed_line(self, data: bytes, position: int) -> int:
        end = data.find(b"\n", position)
        stop = len(data) if end < 0 else end + 1
        self._line += data[position:stop]
        if len(self._line) > _MAX_CHUNK_LINE:
            raise HttpError(self._status, "chunk line too long")
        if end >= 0:
            line = bytes(self._line).rstrip(b"\r\n")
            self._line.clear()
            self._on_line(line)
        return stop

    def _on_line(self, line: bytes) -> None:
        if self._state is _Chunk.SIZE:
            self._remaining = self._chunk_size(line)
            self._state = _Chunk.DATA if self._remaining else _Chunk.TRAILER
        elif self._state is _Chunk.DATA_END:
            if line:
                raise HttpError(self._status, "chunk data longer than its size")
            self._state = _Chunk.SIZE
        elif not line:
            self._state = _Chunk.DONE
            self.done = True

    def _chunk_size(self, line: bytes) -> int:
        size_text = line.split(b";", 1)[0].strip(b" \t")
        # int(…, 16) alone would also take "0x", signs and underscores.
        if not _HEX_SIZE.fullmatch(size_text):
            raise HttpError(self._status, f"bad chunk size {line[:20]!r}")
        return int(size_text, 16)
