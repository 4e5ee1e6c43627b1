"""One client connection of the farm, as a bare asyncio `Protocol` driven in its callbacks:
its `phase` reads the handshake off `buffer` in `data_received` (taking what it needs and
waiting for more when a message is incomplete), `dial` connects to the target, and `relay`
joins the two, bytes flowing both ways in the protocols' callbacks, with flow control, until
either side ends; then both close.

No coroutine, task or stream per connection, and no timer: `Deadlines` bounds its lifetime.
The farm serves thousands of connections a second for the checking benchmarks, in the process
whose CPU sets their pace. Imports `sim.deadlines` and the standard library.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any

from proxyfleet.sim.deadlines import Deadlines

Phase = Callable[["Connection"], None]
Dialled = Callable[["Connection", "Upstream | None"], None]


class Connection(asyncio.Protocol):
    """A client: handshake read by `phase`, then relayed to an `Upstream`."""

    __slots__ = ("_bucket", "_deadlines", "_dialled", "_upstream", "buffer", "ended", "phase",
                 "transport")

    def __init__(self, deadlines: Deadlines[Connection], phase: Phase) -> None:
        self._deadlines = deadlines
        self.phase: Phase | None = phase
        self.buffer = bytearray()
        self.ended = False
        self._upstream: Upstream | None = None
        # `transport` is set in connection_made, before asyncio calls anything else here.
        self.transport: asyncio.Transport

    # --- asyncio's side ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports quack like asyncio's without subclassing them: no isinstance,
        # and no typing.cast either, which is a Python call per connection.
        self.transport = transport  # type: ignore[assignment]
        self._bucket = self._deadlines.enter(self)

    def data_received(self, data: bytes) -> None:
        if self._upstream is not None:
            self._upstream.transport.write(data)
            return
        self.buffer += data
        if self.phase is not None:
            try:
                self.phase(self)
            except (OSError, ValueError, asyncio.LimitOverrunError):
                self.end()  # whatever a client does wrong ends its connection, never the farm

    def eof_received(self) -> bool:
        self.end()
        return False  # requests here are one-shot: a half-closed side ends the exchange

    def connection_lost(self, exc: Exception | None) -> None:
        self.end()

    def pause_writing(self) -> None:
        if self._upstream is not None:
            self._upstream.transport.pause_reading()

    def resume_writing(self) -> None:
        if self._upstream is not None:
            self._upstream.transport.resume_reading()

    # --- the farm's side ---------------------------------------------------------------------

    def take(self, size: int) -> bytes:
        chunk = bytes(self.buffer[:size])
        del self.buffer[:size]
        return chunk

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    def peer_ip(self) -> str:
        return str(self.transport.get_extra_info("peername")[0])

    def dial(self, host: str, port: int, egress: str, dialled: Dialled) -> None:
        """Connect to (host, port) from `egress`; `dialled(self, upstream or None)` follows."""
        self.phase = None  # what the client sends meanwhile waits in the buffer
        self._dialled = dialled  # kept here rather than in a partial made per dial
        loop = asyncio.get_running_loop()
        connecting = loop.create_connection(Upstream, host, port, local_addr=(egress, 0))
        _drive(connecting, self._connected)

    def _connected(self, outcome: tuple[Any, Upstream] | BaseException) -> None:
        if isinstance(outcome, BaseException):
            if isinstance(outcome, OSError) and not self.ended:
                self._dialled(self, None)  # refused, unreachable: the proxy says so
            else:
                self.end()
            return
        upstream = outcome[1]
        if self.ended:
            upstream.transport.close()
            return
        self._dialled(self, upstream)

    def relay(self, upstream: Upstream) -> None:
        """Bytes both ways between the client and `upstream` until either side ends."""
        self._upstream, upstream.client = upstream, self
        if self.buffer:  # what came before the relay began goes first
            upstream.transport.write(bytes(self.buffer))
            self.buffer.clear()
        if upstream.early:
            self.transport.write(upstream.early)
        if upstream.ended:
            self.end()

    def end(self) -> None:
        """Close both sides; whatever was written still goes out first (close, not abort)."""
        if not self.ended:
            self._finish(abort=False)

    def abort(self) -> None:
        """Cut the client off at once (its deadline passed); the target side is closed."""
        self._finish(abort=True)

    def _finish(self, *, abort: bool) -> None:
        self.ended = True
        self.phase = None
        self._bucket.discard(self)
        if abort:
            self.transport.abort()
        else:
            self.transport.close()
        if self._upstream is not None:
            self._upstream.transport.close()


class Upstream(asyncio.Protocol):
    """The farm's connection to a target; what the target sends before the relay waits."""

    __slots__ = ("client", "early", "ended", "transport")

    def __init__(self) -> None:
        self.client: Connection | None = None
        self.early = b""
        self.ended = False
        self.transport: asyncio.Transport  # set in connection_made, as Connection's

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # as Connection's: no cast

    def data_received(self, data: bytes) -> None:
        if self.client is not None:
            self.client.transport.write(data)
        else:
            self.early += data

    def eof_received(self) -> bool:
        self._end()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ended:  # the usual end came with the target's EOF
            self._end()

    def _end(self) -> None:
        self.ended = True
        if self.client is not None:
            self.client.end()

    def pause_writing(self) -> None:
        if self.client is not None:
            self.client.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.client is not None:
            self.client.transport.resume_reading()

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    def close(self) -> None:
        self.transport.close()


def _drive(coroutine: Coroutine[Any, Any, Any],
           done: Callable[[Any], None], _: object = None) -> None:
    """Run `coroutine` in the callbacks of the futures it awaits; `done(result or error)`.

    A task would do the same at the price of a task object, a context and a loop turn per
    step; a dial awaits a future or two, and the farm dials once per proxied request."""
    try:
        awaited = coroutine.send(None)
    except StopIteration as finished:
        done(finished.value)
        return
    except BaseException as error:  # the caller decides, as a task's awaiter would
        done(error)
        return
    if awaited is None:  # a bare yield: try again on the next turn of the loop
        asyncio.get_running_loop().call_soon(_drive, coroutine, done)
        return
    awaited._asyncio_future_blocking = False
    awaited.add_done_callback(functools.partial(_drive, coroutine, done))
