"""`SpliceRelay`: a tunnel's bytes moved in the kernel, never through Python.

Once a tunnel streams in bulk, its two sockets only need bytes moved between them. Linux's
splice(2) moves them socket → pipe → socket without copying them into the process: per
wake-up the relay makes two system calls and touches no data, where a Protocol relay has the
loop copy every chunk into a bytes object and out again. On loopback that halves the CPU a
bulk stream costs and lifts its rate (see `bench/relay.py`).

Each direction has its own pipe. It reads while the pipe has room and writes while the
destination takes bytes; when the destination is full it stops reading until the pipe drains,
which is the back-pressure. An EOF is passed on as a half-close once the pipe is empty; the
relay ends when both directions have ended, on any socket error, or when nothing moved for the
idle timeout. The sockets are used through duplicates of their descriptors, with both
transports paused, so the event loop's own handling of them stays out of the way until the
legs are closed.

Standard library only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from typing import TYPE_CHECKING

from proxyfleet.gateway.idle import IdleWatch

if TYPE_CHECKING:
    from proxyfleet.gateway.leg import Leg

PIPE_SIZE = 1 << 20
_F_SETPIPE_SZ = 1031
SPLICE_AVAILABLE = sys.platform == "linux" and hasattr(os, "splice")
_FLAGS = (os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK) if SPLICE_AVAILABLE else 0


def _socket_of(leg: Leg) -> socket.socket | None:
    """A duplicate of the leg's TCP socket, or None when it has no plain one."""
    transport = leg.transport
    if transport is None or transport.get_extra_info("sslcontext") is not None:
        return None
    raw = transport.get_extra_info("socket")
    if raw is None or raw.type != socket.SOCK_STREAM or raw.family not in (
            socket.AF_INET, socket.AF_INET6):
        return None
    return socket.socket(raw.family, raw.type, raw.proto, os.dup(raw.fileno()))


class SpliceRelay:
    def __init__(self, first: Leg, second: Leg, sockets: tuple[socket.socket, socket.socket],
                 idle_timeout: float) -> None:
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._legs = (first, second)
        self._sockets = sockets
        self._idle = IdleWatch(self._legs, idle_timeout, self.finish)
        forward = _Direction(self, first, *sockets)
        try:
            backward = _Direction(self, second, *reversed(sockets))
        except OSError:
            forward.close()  # its pipe, which nothing else would close
            raise
        self._directions = (forward, backward)
        self._ended = 0
        self._finishing = False

    @classmethod
    def between(cls, first: Leg, second: Leg, idle_timeout: float) -> SpliceRelay | None:
        """A kernel relay for two idle legs on plain sockets, if this platform has one."""
        if not (SPLICE_AVAILABLE and first.idle and second.idle):
            return None
        one = _socket_of(first)
        other = _socket_of(second) if one is not None else None
        if one is None or other is None:
            if one is not None:
                one.close()
            return None
        try:
            return cls(first, second, (one, other), idle_timeout)
        except OSError:  # out of descriptors for the pipes
            one.close()
            other.close()
            return None

    def join(self) -> None:
        first, second = self._legs
        # The loop must not read what the pipes are to move; it still reports a leg closed
        # from this side (a listener shutting down), which ends the relay.
        first.attach(self, second)
        second.attach(self, first)
        for leg in self._legs:
            leg.hold(True)
        for direction in self._directions:
            direction.start()
        self._idle.start()

    def on_eof(self, leg: Leg) -> None:
        """Not heard while the transports are paused: the pipes see EOFs themselves."""

    def on_lost(self, leg: Leg) -> None:
        self.finish()

    def on_bulk(self) -> None:
        """Already in the kernel."""

    def ended(self) -> None:
        self._ended += 1
        if self._ended == len(self._directions):
            self.finish()

    def finish(self) -> None:
        if self._finishing:
            return
        self._finishing = True
        self._idle.stop()
        for direction in self._directions:
            direction.close()
        for sock in self._sockets:
            sock.close()
        for leg in self._legs:
            leg.close()
        if not self.finished.done():  # cancelled, when the session was
            self.finished.set_result(None)


class _Direction:
    """Bytes from `source` to `sink` through a pipe of its own."""

    def __init__(self, relay: SpliceRelay, source_leg: Leg, source: socket.socket,
                 sink: socket.socket) -> None:
        self._relay = relay
        self._leg = source_leg
        self._source = source.fileno()
        self._sink_socket = sink
        self._sink = sink.fileno()
        self._loop = asyncio.get_running_loop()
        self._out, self._in = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        with contextlib.suppress(OSError):  # a smaller default pipe still works
            import fcntl

            fcntl.fcntl(self._in, _F_SETPIPE_SZ, PIPE_SIZE)
        self._held = 0
        self._reading = self._writing = self._eof = self._done = self._closed = False

    def start(self) -> None:
        self._read_on()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._read_off()
        self._write_off()
        os.close(self._in)
        os.close(self._out)

    def _readable(self) -> None:
        try:
            moved = os.splice(self._source, self._in, PIPE_SIZE - self._held, flags=_FLAGS)
        except BlockingIOError:
            return
        except OSError:
            self._relay.finish()
            return
        if moved == 0:
            self._eof = True
            self._read_off()
        else:
            self._held += moved
            self._leg.count(moved)
        self._flush()

    def _flush(self) -> None:
        while self._held:
            try:
                moved = os.splice(self._out, self._sink, self._held, flags=_FLAGS)
            except BlockingIOError:
                # The sink is full: stop reading until it takes what the pipe holds.
                self._read_off()
                self._write_on()
                return
            except OSError:
                self._relay.finish()
                return
            self._held -= moved
        self._write_off()
        if not self._eof:
            self._read_on()
            return
        if self._done:
            return
        # Everything before the EOF is through: pass the half-close on, once.
        self._done = True
        with contextlib.suppress(OSError):
            self._sink_socket.shutdown(socket.SHUT_WR)
        self._relay.ended()

    def _read_on(self) -> None:
        if not self._reading and not self._closed and not self._eof:
            self._loop.add_reader(self._source, self._readable)
            self._reading = True

    def _read_off(self) -> None:
        if self._reading:
            self._loop.remove_reader(self._source)
            self._reading = False

    def _write_on(self) -> None:
        if not self._writing and not self._closed:
            self._loop.add_writer(self._sink, self._flush)
            self._writing = True

    def _write_off(self) -> None:
        if self._writing:
            self._loop.remove_writer(self._sink)
            self._writing = False
