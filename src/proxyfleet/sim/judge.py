"""A judge on loopback: a small HTTP/1.1 server answering `GET /judge` with the judge report
(`pool.judge.judge_report`) of the peer address and the headers it received.

One request per connection, then close: checkers send `Connection: close`, and it keeps the
server tiny: each connection is a bare `Protocol` that answers from its `data_received`, with
no task, no streams and no timer of its own (`sim.deadlines` cuts off slow clients): the
checking benchmarks have the judge answer thousands of requests a second, in the farm's
process. A subclass may answer other paths (`Judge.answer`). Started
as an async context manager on a free port; `.url` is what `CheckContext.judge_url` wants.
Imports `core`, `pool.judge` (pure rules), `sim.deadlines` and the standard library.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable
from json.encoder import encode_basestring_ascii
from types import TracebackType
from typing import Any, Self

from proxyfleet.pool.judge import JudgeReport, judge_report
from proxyfleet.sim.deadlines import Deadlines

JUDGE_PATH = "/judge"
MAX_REQUEST_HEAD = 16 * 1024


class BadRequest(ValueError):
    """The request head is not HTTP/1.x."""


Headers = tuple[tuple[str, str], ...]


def parse_request_head(head: bytes) -> tuple[str, str, list[tuple[str, str]]]:
    """Method, target and headers of a request head (request line to blank line)."""
    method, target, headers = _parsed_head(head)
    return method, target, list(headers)  # the caller's own list: the parse is shared


# Checkers send the same request check after check, and most proxies pass it on unchanged:
# the farm and the judge see the same few heads over and over, and parsing one costs
# several times the lookup. A bad head raises, which is never remembered. Heads are at most
# 16 KiB (MAX_REQUEST_HEAD, the farm's MAX_HEAD), so the cache holds at most ~16 MiB of
# them, and a checker's are a few hundred bytes.
@functools.lru_cache(maxsize=1024)
def _parsed_head(head: bytes) -> tuple[str, str, Headers]:
    request_line, *lines = head.decode("latin-1").split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(f"bad request line {request_line[:60]!r}")
    headers = []
    for line in lines:
        if not line:
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not name:
            raise BadRequest(f"bad header line {line[:60]!r}")
        headers.append((name, value.strip()))
    return parts[0], parts[1], tuple(headers)


def response(status: int, reason: str, body: bytes, content_type: str) -> bytes:
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


# Made once: the judge answers thousands of requests a second. The report's answer is
# `response(200, "OK", body, "application/json")` filled in by one bytes formatting.
_NOT_FOUND = response(404, "Not Found", b'{"error": "not found"}', "application/json")
_GET_ONLY = response(405, "Method Not Allowed", b'{"error": "GET only"}', "application/json")
_BAD_REQUEST = response(400, "Bad Request", b"", "text/plain")
_REPORT = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\nConnection: close\r\n\r\n%b")


def report_json(report: JudgeReport) -> bytes:
    """`json.dumps(report)`, byte for byte, from the C string encoder alone: the judge writes
    thousands of reports a second, and the encoder object `dumps` builds each time costs more
    than the report."""
    return _report_json(report["origin"], _strings_object(report["headers"].items()))


def _report_json(origin: str, headers_object: str) -> bytes:
    return f'{{"origin": {encode_basestring_ascii(origin)}, "headers": {headers_object}}}'.encode()


def _strings_object(pairs: Iterable[tuple[str, str]]) -> str:
    """A JSON object of string pairs, as `json.dumps` writes it."""
    members = ", ".join([f"{encode_basestring_ascii(name)}: {encode_basestring_ascii(value)}"
                         for name, value in pairs])
    return f"{{{members}}}"


@functools.lru_cache(maxsize=1024)
def _reported_headers(headers: Headers) -> str:
    """The report's `headers` object for these request headers, which `judge_report` makes
    without the peer: remembered, as the heads are (`_parsed_head`), while the origin, one
    per proxy, is written each time."""
    return _strings_object(judge_report("", headers)["headers"].items())


class Judge:
    """The judge server. `served` counts the requests it answered."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, io_timeout: float = 10.0,
                 backlog: int = 4096) -> None:
        self.host = host
        self._port = port
        self._backlog = backlog
        self._server: asyncio.Server | None = None
        # A client that never finishes its head is cut off, as any server would.
        self._deadlines: Deadlines[_Exchange] = Deadlines(io_timeout)
        self.served = 0

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the judge is not running")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{JUDGE_PATH}"

    async def __aenter__(self) -> Self:
        # A partial, not a lambda: one Python frame fewer per accepted connection.
        self._server = await asyncio.get_running_loop().create_server(
            functools.partial(_Exchange, self), self.host, self._port, backlog=self._backlog
        )
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._server is not None:
            self._server.close()
        for exchange in list(self._deadlines):  # clients that never sent their head end with us
            exchange.abort()
        self._deadlines.stop()

    def answer(self, method: str, target: str, peer_ip: str,
               headers: list[tuple[str, str]]) -> bytes:
        """The whole response to one request."""
        if target.split("?", 1)[0] != JUDGE_PATH:
            return _NOT_FOUND
        if method != "GET":
            return _GET_ONLY
        body = _report_json(peer_ip, _reported_headers(tuple(headers)))
        return _REPORT % (len(body), body)

    def respond(self, head: bytes, peer_ip: str) -> bytes:
        try:
            method, target, headers = parse_request_head(head)
        except BadRequest:
            return _BAD_REQUEST
        self.served += 1
        return self.answer(method, target, peer_ip, headers)


class _Exchange(asyncio.Protocol):
    """One connection to the judge: gather the request head, answer it, close."""

    __slots__ = ("_bucket", "_closed", "_head", "_judge", "transport")

    def __init__(self, judge: Judge) -> None:
        self._judge = judge
        self._head = b""
        self._closed = False  # our own flag: asking the transport is_closing() is a call
        # `transport` is set in connection_made, before asyncio calls anything else here.
        self.transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are no asyncio.Transport subclasses; typing.cast would be a call.
        self.transport = transport  # type: ignore[assignment]
        self._bucket = self._judge._deadlines.enter(self)

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        head = self._head = self._head + data
        end = head.find(b"\r\n\r\n")
        if end < 0 and len(head) <= MAX_REQUEST_HEAD:
            return
        if 0 <= end <= MAX_REQUEST_HEAD:
            peer_ip = str(self.transport.get_extra_info("peername")[0])
            self.transport.write(self._judge.respond(head[:end], peer_ip))
        self._closed = True
        self.transport.close()  # answered, or a head too long to answer

    def eof_received(self) -> bool:
        return False  # a client that stops talking before its head is done gets no answer

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._bucket.discard(self)

    def abort(self) -> None:
        self._closed = True
        self.transport.abort()


async def cancel_all(tasks: set[asyncio.Task[Any]]) -> None:
    # Handlers still running at shutdown (a client that never sent its head) end with us.
    pending = list(tasks)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
