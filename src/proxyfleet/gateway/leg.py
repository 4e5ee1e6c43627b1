"""`Leg`: one side of a proxied connection, as an asyncio Protocol with three modes.

Before the tunnel opens a leg buffers what arrives in an inbox that a handshake coroutine
`read()`s with a timeout. Once `relay()` joins two legs, each `data_received` writes straight
into the other leg's transport: no coroutine wakes per chunk, and back-pressure is the
transports' own pause/resume (a full write buffer on one side pauses reading on the other).
A `Joint` may instead route each leg's bytes through a callback of its own (HTTP forwarding
does, to rewrite message heads on the way), with the same back-pressure.

Standard library only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol, cast

from proxyfleet.gateway.idle import IdleWatch
from proxyfleet.gateway.splice import SPLICE_AVAILABLE, SpliceRelay
from proxyfleet.wire.target import Target

# A big write buffer lets a fast reader run ahead of a slow writer without pausing per chunk.
WRITE_BUFFER_HIGH = 4 * 1024 * 1024
INBOX_LIMIT = 256 * 1024
# A read this big means bytes queue up faster than they are relayed: a bulk stream, which
# the kernel relays for less (`splice.py`) once the setup, dearer than a few small
# exchanges, pays for itself.
BULK_CHUNK = 64 * 1024


def _ignore(size: int) -> None:
    del size


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class Joint(Protocol):
    """What joins two legs and hears of their ends."""

    def on_eof(self, leg: Leg) -> None: ...

    def on_lost(self, leg: Leg) -> None: ...

    def on_bulk(self) -> None:
        """A chunk of at least `BULK_CHUNK` bytes passed straight to the peer."""


class LegWatcher(Protocol):
    """Hears what one upstream leg carries (the rotating gateway's view of an exit)."""

    def arrived(self, size: int) -> None:
        """`size` bytes came from the far side."""

    def response(self, status: int) -> bytes:
        """A final HTTP response with `status` is on its way to the client: header lines
        (each ending in CRLF) to add to its head, or b"" for none."""

    def lost(self, exc: Exception | None) -> None:
        """The connection is gone (`exc` when it broke)."""


class Leg(asyncio.Protocol):
    watcher: LegWatcher | None = None
    """Set by `watch()`; a class default so that unwatched legs pay nothing for it."""

    def __init__(self, on_bytes: Callable[[int], None] = _ignore) -> None:
        self.transport: asyncio.Transport | None = None
        self.last_active = time.monotonic()
        self._on_bytes = on_bytes
        self._inbox = bytearray()
        self._eof = False
        self._closed = False
        self._waiter: asyncio.Future[None] | None = None
        self._write_paused = False
        self._drainer: asyncio.Future[None] | None = None
        self._inbox_full = False
        self._peer_full = False
        self._held = False
        self._reading_paused = False
        self._joint: Joint | None = None
        self._peer: Leg | None = None
        self._sink: Callable[[bytes], None] | None = None

    # asyncio.Protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, though uvloop's do not subclass asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)
        self.set_write_high_water(WRITE_BUFFER_HIGH)

    def set_write_high_water(self, high: int) -> None:
        """Writes pause (and `drain()` waits) while more than `high` bytes are unsent."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.set_write_buffer_limits(high=high)

    def data_received(self, data: bytes) -> None:
        self._on_bytes(len(data))
        self.last_active = time.monotonic()
        sink = self._sink
        if sink is not None:
            sink(data)
            return
        peer = self._peer
        if peer is not None:
            peer.write(data)
            if len(data) >= BULK_CHUNK and self._joint is not None:
                self._joint.on_bulk()
            return
        self._inbox += data
        self._wake()
        if len(self._inbox) > INBOX_LIMIT:
            self._inbox_full = True
            self._update_reading()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        if self._joint is not None:
            self._joint.on_eof(self)
        # Keep the transport open: the other direction may still be flowing (half-close).
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._wake()
        self._wake_drainer()
        if self._joint is not None:
            self._joint.on_lost(self)
        if self.watcher is not None:
            self.watcher.lost(exc)

    def pause_writing(self) -> None:
        self._write_paused = True
        if self._peer is not None:
            self._peer.set_peer_full(True)

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_drainer()
        if self._peer is not None:
            self._peer.set_peer_full(False)

    def count(self, size: int) -> None:
        """`size` bytes arrived that went past `data_received` (spliced in the kernel)."""
        self._on_bytes(size)
        self.last_active = time.monotonic()


    def watch(self, watcher: LegWatcher) -> None:
        """Tell `watcher` what this leg carries, besides counting it as before."""
        self.watcher = watcher
        counted = self._on_bytes

        def both(size: int) -> None:
            counted(size)
            watcher.arrived(size)

        self._on_bytes = both

    # The handshake side: reads with timeouts, writes, drains.

    @property
    def at_eof(self) -> bool:
        """No more bytes will arrive: the far side sent EOF or the connection is gone."""
        return (self._eof or self._closed) and not self._inbox

    @property
    def reusable(self) -> bool:
        """Open both ways with nothing unread: fit to carry another request."""
        return not self.closed and not self._eof and not self._inbox

    @property
    def idle(self) -> bool:
        """Reusable, and nothing unsent either: fit to hand to the kernel."""
        return (self.reusable and self.transport is not None
                and self.transport.get_write_buffer_size() == 0)

    @property
    def write_paused(self) -> bool:
        return self._write_paused

    @property
    def closed(self) -> bool:
        return self._closed or self.transport is None or self.transport.is_closing()

    async def read(self, deadline: float | None = None) -> bytes:
        """What has arrived, waiting for something if nothing has; b"" at EOF.

        `deadline`, on the loop's clock, bounds the wait: `TimeoutError` once it has passed.
        (One timer, armed only when the read has to wait: cheaper than an `asyncio.timeout`
        around it, which a handshake would pay on every connection.)
        """
        if not self._inbox and not self._eof and not self._closed:
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = None if deadline is None else loop.call_at(deadline, _expire, waiter)
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
        return self.take_inbox()

    def take_inbox(self) -> bytes:
        data = bytes(self._inbox)
        self._inbox.clear()
        if self._inbox_full:
            self._inbox_full = False
            self._update_reading()
        return data

    def unread(self, data: bytes) -> None:
        """Put back bytes a parser read past its message; the next read returns them first."""
        if data:
            self._inbox[:0] = data

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    async def drain(self) -> None:
        """Wait until the write buffer is below its high-water mark; callers bound it."""
        if self._write_paused and not self._closed:
            self._drainer = asyncio.get_running_loop().create_future()
            try:
                await self._drainer
            finally:
                self._drainer = None

    def write_eof(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if transport.can_write_eof():
            transport.write_eof()
        else:
            transport.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    @property
    def local_target(self) -> Target | None:
        """The local address this leg's socket is bound to, when it has one."""
        if self.transport is None:
            return None
        sockname = self.transport.get_extra_info("sockname")
        if not isinstance(sockname, tuple) or len(sockname) < 2:
            return None
        return Target(str(sockname[0]).partition("%")[0], int(sockname[1]))

    # Relay plumbing

    def set_peer_full(self, full: bool) -> None:
        self._peer_full = full
        self._update_reading()

    def attach(self, joint: Joint, peer: Leg, sink: Callable[[bytes], None] | None = None,
               ) -> None:
        """Join this leg to `peer`: what arrives goes to `sink`, or straight to the peer."""
        self._joint = joint
        self._peer = peer
        self._sink = sink
        self.set_peer_full(peer.write_paused)

    def detach(self) -> None:
        """Back to the inbox: what arrives waits for `read()` again."""
        self._joint = self._peer = self._sink = None
        self._peer_full = self._held = False
        self._update_reading()

    def hold(self, held: bool) -> None:
        """Stop reading (or start again) whatever the write buffers say."""
        if held is not self._held:  # forwarding lets go after every exchange
            self._held = held
            self._update_reading()

    def _update_reading(self) -> None:
        transport = self.transport
        paused = self._inbox_full or self._peer_full or self._held
        if transport is None or transport.is_closing() or paused is self._reading_paused:
            return
        self._reading_paused = paused
        if paused:
            transport.pause_reading()
        else:
            transport.resume_reading()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _wake_drainer(self) -> None:
        if self._drainer is not None and not self._drainer.done():
            self._drainer.set_result(None)


class _Relay:
    """Two joined legs: finishes when both directions have ended, either side is gone, or
    nothing moved for `idle_timeout` seconds."""

    def __init__(self, first: Leg, second: Leg, idle_timeout: float) -> None:
        self._loop = asyncio.get_running_loop()
        # One future per connection says what happened next: True, a bulk stream began
        # (where the kernel could relay it); False, the relay is over.
        self._news: asyncio.Future[bool] = self._loop.create_future()
        self._bulk_seen = self._over = False
        self._legs = (first, second)
        self._ended: set[Leg] = set()
        self._idle_timeout = idle_timeout
        self._idle = IdleWatch(self._legs, idle_timeout, self.finish)

    def join(self) -> None:
        first, second = self._legs
        for leg, peer in ((first, second), (second, first)):
            pending = leg.take_inbox()
            leg.attach(self, peer)
            peer.write(pending)
        for leg in self._legs:
            if leg.closed:
                self.finish()
            elif leg.at_eof:
                self.on_eof(leg)
        self._idle.start()

    async def news(self) -> bool:
        """Wait for what happens next: True when a bulk stream began, False when it is over."""
        bulk = await self._news
        if bulk:
            self._news = self._loop.create_future()
            if self._over:
                self._news.set_result(False)
        return bulk

    def on_eof(self, leg: Leg) -> None:
        """Pass a half-close on; once both directions ended, the relay is done."""
        self._ended.add(leg)
        peer = self._legs[1] if leg is self._legs[0] else self._legs[0]
        peer.write_eof()
        if len(self._ended) == 2:
            self.finish()

    def on_lost(self, leg: Leg) -> None:
        self.finish()

    def on_bulk(self) -> None:
        if SPLICE_AVAILABLE and not self._bulk_seen and not self._news.done():
            self._bulk_seen = True
            self._news.set_result(True)

    async def to_kernel(self) -> SpliceRelay | None:
        """Hand both legs to a kernel relay once what the loop buffered is sent; None, and
        the relay carries on as it was, when that cannot be (a half-close already passed,
        a leg that is not a plain socket)."""
        if self._ended or self._over:
            return None
        for leg in self._legs:
            leg.hold(True)
            leg.set_write_high_water(0)  # so `drain()` waits for an empty buffer
        try:
            async with asyncio.timeout(self._idle_timeout):
                for leg in self._legs:
                    await leg.drain()
        except TimeoutError:
            self.finish()
        finally:
            for leg in self._legs:
                leg.set_write_high_water(WRITE_BUFFER_HIGH)
        if self._over:
            return None
        first, second = self._legs
        for leg in self._legs:
            leg.detach()
        kernel = SpliceRelay.between(first, second, self._idle_timeout)
        if kernel is None:
            for leg, peer in ((first, second), (second, first)):
                leg.attach(self, peer)
            return None
        self._idle.stop()
        return kernel

    def finish(self) -> None:
        self._over = True
        for leg in self._legs:
            leg.close()
        self._idle.stop()
        if not self._news.done():
            self._news.set_result(False)


async def relay(first: Leg, second: Leg, idle_timeout: float) -> None:
    """Move bytes both ways until both directions end, either side goes, or nothing has
    moved for `idle_timeout` seconds; then close both legs.

    The Protocols relay first; a tunnel that starts streaming in bulk between two plain
    sockets moves over to the kernel (`splice.py`) once nothing is left in the loop's
    buffers.
    """
    joined = _Relay(first, second, idle_timeout)
    joined.join()
    try:
        # No timeout here on purpose: the relay's idle timer is these awaits' deadline.
        if await joined.news():
            kernel = await joined.to_kernel()
            if kernel is not None:
                kernel.join()
                try:
                    await kernel.finished
                finally:
                    kernel.finish()
                return
            await joined.news()
    finally:
        joined.finish()
