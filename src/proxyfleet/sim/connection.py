"""One TCP connection of the farm, as a bare asyncio `Protocol`: a handler coroutine reads the
client's handshake off it (`read_exactly`, `read_until`) and answers (`write`); `relay` then
joins it to the connection dialled to the target, and bytes flow both ways in the protocols'
callbacks, with flow control, until either side ends.

Streams would cost a reader, a writer and a protocol per connection, and a relay two pump tasks
and a drain per chunk; the farm serves thousands of connections a second for the checking
benchmarks, so its own CPU sets their pace. Reads fail as `asyncio.StreamReader`'s do
(`IncompleteReadError`, `LimitOverrunError`). Imports only the standard library.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast


class Connection(asyncio.Protocol):
    """A connection read by one coroutine, then relayed to another `Connection`."""

    __slots__ = ("_buffer", "_ended", "_eof", "_limit", "_on_made", "_peer", "_waiter",
                 "transport")

    def __init__(self, on_made: Callable[[Connection], None] | None = None,
                 limit: int = 64 * 1024) -> None:
        self.transport: asyncio.Transport | None = None
        self._on_made = on_made
        self._limit = limit
        self._buffer = bytearray()
        self._waiter: asyncio.Future[None] | None = None
        self._eof = False
        self._peer: Connection | None = None
        self._ended: asyncio.Future[None] | None = None

    # --- asyncio's side ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports quack like asyncio's without subclassing them: no isinstance.
        self.transport = cast(asyncio.Transport, transport)
        if self._on_made is not None:
            self._on_made(self)

    def data_received(self, data: bytes) -> None:
        if self._peer is not None:
            self._peer.write(data)
            return
        self._buffer += data
        self._wake()

    def eof_received(self) -> bool:
        self._end()
        return False  # requests here are one-shot: a half-closed side ends the exchange

    def connection_lost(self, exc: Exception | None) -> None:
        self._end()

    def pause_writing(self) -> None:
        if self._peer is not None and self._peer.transport is not None:
            self._peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self._peer is not None and self._peer.transport is not None:
            self._peer.transport.resume_reading()

    def _end(self) -> None:
        self._eof = True
        self._wake()
        ended = self._ended
        if ended is not None and not ended.done():
            ended.set_result(None)

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _more(self) -> None:
        if self._eof:
            raise asyncio.IncompleteReadError(bytes(self._buffer), None)
        self._waiter = asyncio.get_running_loop().create_future()
        await self._waiter

    # --- the handler's side ------------------------------------------------------------------

    async def read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            await self._more()
        chunk = bytes(self._buffer[:size])
        del self._buffer[:size]
        return chunk

    async def read_until(self, separator: bytes) -> bytes:
        """Bytes up to and including `separator`, which must come within the limit."""
        while (found := self._buffer.find(separator)) < 0:
            if len(self._buffer) > self._limit:
                raise asyncio.LimitOverrunError("separator not found within the limit", 0)
            await self._more()
        end = found + len(separator)
        if end > self._limit:
            raise asyncio.LimitOverrunError("separator found beyond the limit", found)
        chunk = bytes(self._buffer[:end])
        del self._buffer[:end]
        return chunk

    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def peer_ip(self) -> str:
        assert self.transport is not None
        return str(self.transport.get_extra_info("peername")[0])

    async def relay(self, other: Connection) -> None:
        """Bytes both ways between this connection and `other` until either side ends."""
        ended = asyncio.get_running_loop().create_future()
        self._ended = other._ended = ended
        self._peer, other._peer = other, self
        for source, sink in ((self, other), (other, self)):
            if source._buffer:  # what came before the relay began goes first
                sink.write(bytes(source._buffer))
                source._buffer.clear()
        if self._eof or other._eof:
            return
        await ended

    def close(self) -> None:
        # Whatever was written still goes out first: close() flushes, abort() would not.
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
