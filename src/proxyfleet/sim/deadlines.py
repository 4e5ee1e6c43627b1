"""One timer for the lifetimes of many connections: `Deadlines` cuts off (`abort()`) whatever
outlives its timeout, at most a slice of the timeout late, never early.

Connections are kept in buckets by the slice of time they started in; one timer handle waits
for the oldest bucket's deadline. A connection costs a set insertion and a removal, where a
timer handle of its own would cost a handle, a heap entry and its cancellation: the farm and
the judge open thousands of connections a second in the checking benchmarks. Imports only
the standard library.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar

SLICES = 8  # a connection lives between timeout and timeout·(1 + 1/SLICES)


class Abortable(Protocol):
    def abort(self) -> None: ...


M = TypeVar("M", bound=Abortable)


class Deadlines(Generic[M]):
    """Connections that `enter` are aborted once `timeout` has passed, unless they `leave`."""

    __slots__ = ("_buckets", "_loop", "_newest", "_newest_deadline", "_slice", "_timeout",
                 "_timer")

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._slice = timeout / SLICES
        self._buckets: deque[tuple[float, set[M]]] = deque()  # (deadline, members)
        # The newest bucket and its deadline, also kept apart from the deque: every `enter`
        # reads them, and so needs no indexing into the deque and its tuple, twice.
        self._newest: set[M] = set()
        self._newest_deadline = float("-inf")
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def enter(self, member: M) -> set[M]:
        """Start `member`'s time; the bucket returned is where `leave` takes it from."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        opened_by = self._loop.time() + self._timeout
        if self._newest_deadline < opened_by:
            # The bucket's deadline is a slice after its first member's: none is cut early.
            self._newest_deadline, self._newest = opened_by + self._slice, set()
            self._buckets.append((self._newest_deadline, self._newest))
            if self._timer is None:
                self._timer = self._loop.call_at(self._buckets[0][0], self._sweep)
        self._newest.add(member)
        return self._newest

    def __iter__(self) -> Iterator[M]:
        for _, bucket in self._buckets:
            yield from bucket

    def _sweep(self) -> None:
        assert self._loop is not None
        self._timer = None
        now = self._loop.time()
        while self._buckets and self._buckets[0][0] <= now:
            for member in list(self._buckets.popleft()[1]):
                member.abort()
        if self._buckets:
            self._timer = self._loop.call_at(self._buckets[0][0], self._sweep)

    def stop(self) -> None:
        """Forget every connection and the timer (their owner ends them itself)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._buckets.clear()
        self._newest, self._newest_deadline = set(), float("-inf")
