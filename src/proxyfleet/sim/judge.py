"""A judge on loopback: a small HTTP/1.1 server answering `GET /judge` with the judge report
(`pool.judge.judge_report`) of the peer address and the headers it received.

One request per connection, then close: checkers send `Connection: close`, and it keeps the
server tiny. Started as an async context manager on a free port; `.url` is what
`CheckContext.judge_url` wants. Imports `core`, `pool.judge` (pure rules) and the standard
library.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from types import TracebackType
from typing import Any

from proxyfleet.pool.judge import judge_report

JUDGE_PATH = "/judge"
MAX_REQUEST_HEAD = 16 * 1024


class BadRequest(ValueError):
    """The request head is not HTTP/1.x."""


def parse_request_head(head: bytes) -> tuple[str, str, list[tuple[str, str]]]:
    """Method, target and headers of a request head (request line to blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(f"bad request line {lines[0][:60]!r}")
    headers = []
    for line in filter(None, lines[1:]):
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise BadRequest(f"bad header line {line[:60]!r}")
        headers.append((name.strip(), value.strip()))
    return parts[0], parts[1], headers


def response(status: int, reason: str, body: bytes, content_type: str) -> bytes:
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _answer(method: str, target: str, peer_ip: str, headers: list[tuple[str, str]]) -> bytes:
    if target.split("?", 1)[0] != JUDGE_PATH:
        return response(404, "Not Found", b'{"error": "not found"}', "application/json")
    if method != "GET":
        return response(405, "Method Not Allowed", b'{"error": "GET only"}', "application/json")
    body = json.dumps(judge_report(peer_ip, headers)).encode()
    return response(200, "OK", body, "application/json")


class Judge:
    """The judge server. `served` counts the reports it gave."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, io_timeout: float = 10.0,
                 backlog: int = 4096) -> None:
        self.host = host
        self._port = port
        self._io_timeout = io_timeout
        self._backlog = backlog
        self._server: asyncio.Server | None = None
        self._live: set[asyncio.Task[Any]] = set()
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

    async def __aenter__(self) -> Judge:
        self._server = await asyncio.start_server(
            self._serve, self.host, self._port, backlog=self._backlog, limit=MAX_REQUEST_HEAD
        )
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await cancel_all(self._live)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with tracked(self._live):
            try:
                async with asyncio.timeout(self._io_timeout):
                    await self._exchange(reader, writer)
            except (OSError, ValueError, EOFError, asyncio.LimitOverrunError):
                pass  # a broken client is its own problem; the judge goes on
            finally:
                writer.close()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        try:
            method, target, headers = parse_request_head(head[:-4])
        except BadRequest:
            writer.write(response(400, "Bad Request", b"", "text/plain"))
        else:
            peer_ip = str(writer.get_extra_info("peername")[0])
            writer.write(_answer(method, target, peer_ip, headers))
            self.served += 1
        await writer.drain()


@contextlib.contextmanager
def tracked(live: set[asyncio.Task[Any]]) -> Iterator[None]:
    """Keep the current connection handler in `live` while it runs, so shutdown can end it."""
    task = asyncio.current_task()
    if task is None:
        yield
        return
    live.add(task)
    try:
        yield
    finally:
        live.discard(task)


async def cancel_all(tasks: set[asyncio.Task[Any]]) -> None:
    # Handlers still running at shutdown (a client that never sent its head) end with us.
    pending = list(tasks)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
