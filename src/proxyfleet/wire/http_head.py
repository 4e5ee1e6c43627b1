"""HTTP/1 message heads: the incremental `HeadReader`, `Headers`, request and response heads,
their parsing and encoding, and the `HttpError` that carries the status to answer with.

Standard library only; imports nothing of the project.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from http import HTTPStatus

from proxyfleet.wire.errors import WireError
from proxyfleet.wire.handshake import NEED_DATA, NeedData

MAX_HEAD_SIZE = 64 * 1024
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_VERSION = re.compile(r"^HTTP/(\d)\.(\d)$")
_FORBIDDEN_IN_VALUE = re.compile(r"[\x00\r\n]")


class HttpError(WireError):
    """A message this side must refuse; `status` is the HTTP status to answer with."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message, error_response(status))
        self.status = status


class HeadTooLarge(HttpError):
    def __init__(self, limit: int) -> None:
        super().__init__(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                         f"message head over {limit} bytes")


def error_response(status: HTTPStatus, extra: Iterable[tuple[str, str]] = (),
                   reason: str | None = None) -> bytes:
    """A complete, closing response with a one-line text body naming the status (and
    `reason`, when given, in place of the standard phrase)."""
    body = f"{status.value} {reason or status.phrase}\n".encode("latin-1")
    fields = [*extra, ("Content-Type", "text/plain"), ("Content-Length", str(len(body))),
              ("Connection", "close")]
    return status_line(status, reason) + Headers(fields).encode() + b"\r\n" + body


def status_line(status: HTTPStatus, reason: str | None = None) -> bytes:
    return f"HTTP/1.1 {status.value} {reason or status.phrase}\r\n".encode("latin-1")


class Headers:
    """Header fields in arrival order; names compare case-insensitively."""

    __slots__ = ("_by_name", "_fields")

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        self._fields = tuple(fields)
        self._by_name: dict[str, list[str]] | None = None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"Headers({list(self._fields)!r})"

    def get(self, name: str) -> str | None:
        values = self.get_all(name)
        return values[0] if values else None

    def get_all(self, name: str) -> list[str]:
        by_name = self._by_name
        if by_name is None:
            # Built on the first lookup: a head is asked about several fields in a row.
            by_name = self._by_name = {}
            for key, value in self._fields:
                by_name.setdefault(key.lower(), []).append(value)
        return list(by_name.get(name.lower(), ()))

    def tokens(self, name: str) -> list[str]:
        """The comma-separated, lower-cased tokens of every field called `name`."""
        return [token.strip().lower() for value in self.get_all(name)
                for token in value.split(",") if token.strip()]

    def without(self, names: Iterable[str]) -> Headers:
        dropped = {name.lower() for name in names}
        return Headers(field for field in self._fields if field[0].lower() not in dropped)

    def with_fields(self, fields: Iterable[tuple[str, str]]) -> Headers:
        return Headers((*self._fields, *fields))

    def encode(self) -> bytes:
        return "".join(f"{name}: {value}\r\n" for name, value in self._fields).encode("latin-1")


@dataclass(frozen=True, slots=True)
class RequestHead:
    method: str
    target: str
    version: tuple[int, int]
    headers: Headers

    def encode(self) -> bytes:
        line = f"{self.method} {self.target} HTTP/{self.version[0]}.{self.version[1]}\r\n"
        return line.encode("latin-1") + self.headers.encode() + b"\r\n"


@dataclass(frozen=True, slots=True)
class ResponseHead:
    version: tuple[int, int]
    status: int
    reason: str
    headers: Headers

    def encode(self) -> bytes:
        line = f"HTTP/{self.version[0]}.{self.version[1]} {self.status} {self.reason}\r\n"
        return line.encode("latin-1") + self.headers.encode() + b"\r\n"


class HeadReader:
    """Collects bytes until a blank line ends a message head, within `limit` bytes."""

    def __init__(self, limit: int = MAX_HEAD_SIZE) -> None:
        self._buffer = bytearray()
        self._scanned = 0
        self._limit = limit

    def receive_data(self, data: bytes) -> None:
        self._buffer += data

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def pending(self) -> bool:
        """Whether any bytes are buffered."""
        return bool(self._buffer)

    def next_head(self) -> bytes | NeedData:
        """The head through its blank line, or NEED_DATA; the rest stays buffered."""
        if not self._buffer:
            return NEED_DATA
        end = self._head_end()
        if end < 0:
            if len(self._buffer) > self._limit:
                raise HeadTooLarge(self._limit)
            # Rescan a few bytes next time: the terminator may straddle two chunks.
            self._scanned = max(0, len(self._buffer) - 3)
            return NEED_DATA
        if end > self._limit:
            raise HeadTooLarge(self._limit)
        head = bytes(self._buffer[:end])
        del self._buffer[:end]
        self._scanned = 0
        return head

    @property
    def started(self) -> bytes:
        """The first buffered bytes (up to 16), to judge a message before it is whole."""
        return bytes(self._buffer[:16])

    def take_rest(self) -> bytes:
        """Everything buffered past the last head: the start of a body or a tunnel."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        self._scanned = 0
        return rest

    def _head_end(self) -> int:
        # Tolerate bare LF line ends, as most servers do; an empty line ends the head. A bare
        # "\n\n" counts only where it comes before the first CRLF CRLF.
        buffer = self._buffer
        crlf = buffer.find(b"\r\n\r\n", self._scanned)
        if crlf < 0:
            lf = buffer.find(b"\n\n", self._scanned)
            return lf + 2 if lf >= 0 else -1
        lf = buffer.find(b"\n\n", self._scanned, crlf + 2)
        return lf + 2 if lf >= 0 else crlf + 4


def parse_request_head(head: bytes) -> RequestHead:
    lines = _lines(head)
    parts = lines[0].split(" ")
    if len(parts) != 3 or not _TOKEN.match(parts[0]) or not parts[1]:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"bad request line {lines[0][:80]!r}")
    return RequestHead(parts[0], parts[1], _version(parts[2]), _header_fields(lines[1:]))


def parse_response_head(head: bytes) -> ResponseHead:
    lines = _lines(head, HTTPStatus.BAD_GATEWAY)
    version_text, _, rest = lines[0].partition(" ")
    code, _, reason = rest.partition(" ")
    if len(code) != 3 or not (code.isascii() and code.isdigit()):
        raise HttpError(HTTPStatus.BAD_GATEWAY, f"bad status line {lines[0][:80]!r}")
    return ResponseHead(_version(version_text, HTTPStatus.BAD_GATEWAY), int(code), reason,
                        _header_fields(lines[1:], HTTPStatus.BAD_GATEWAY))


def _lines(head: bytes, status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> list[str]:
    # Empty lines before the start line are tolerated: clients leave a CRLF after a body.
    text = head.decode("latin-1").lstrip("\r\n").rstrip("\r\n")
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if not lines[0]:
        raise HttpError(status, "empty start line")
    return lines


def _version(text: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> tuple[int, int]:
    match = _VERSION.match(text)
    if match is None:
        raise HttpError(status, f"bad HTTP version {text[:20]!r}")
    version = (int(match[1]), int(match[2]))
    if version[0] != 1:
        raise HttpError(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, f"HTTP/{text[5:]} not spoken")
    return version


def _header_fields(lines: list[str], status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> Headers:
    fields = []
    for line in lines:
        name, colon, value = line.partition(":")
        # A space before the colon or a folded line is a smuggling vector: refuse both.
        if not colon or not _TOKEN.match(name):
            raise HttpError(status, f"bad header line {line[:80]!r}")
        value = value.strip(" \t")
        if _FORBIDDEN_IN_VALUE.search(value):
            raise HttpError(status, f"control character in {name}")
        fields.append((name, value))
    return Headers(fields)
