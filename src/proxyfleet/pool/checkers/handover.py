"""`Handover`: how the workers of `Pipeline.check_many` pass what they find to its caller, and
how far ahead of the caller they may pull proxies.

An `asyncio.Queue` and an `asyncio.Semaphore` would do the same; this is one deque for the
items, one future for the one caller waiting, and a count of pulls with a deque of workers
waiting for one, because it runs once per check, thousands of times a second. Imports only the
standard library.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

_T = TypeVar("_T")


class Handover(Generic[_T]):
    """Items from many workers to one taker; at most `ahead` pulls not yet matched by a take."""

    __slots__ = ("_ahead", "_items", "_taker", "_waiting")

    def __init__(self, ahead: int) -> None:
        self._items: deque[_T] = deque()
        self._taker: asyncio.Future[None] | None = None
        self._ahead = ahead
        self._waiting: deque[asyncio.Future[None]] = deque()

    def put(self, item: _T) -> None:
        self._items.append(item)
        taker, self._taker = self._taker, None
        if taker is not None and not taker.done():
            taker.set_result(None)

    async def take(self) -> _T:
        while not self._items:
            self._taker = asyncio.get_running_loop().create_future()
            await self._taker
        return self._items.popleft()

    async def pull(self) -> None:
        """Wait until one more pull is allowed, and count it."""
        if self._ahead > 0:
            self._ahead -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        await waiter  # the count was passed to us by `unpull`

    def unpull(self) -> None:
        """One pull fewer outstanding: its item was taken, or there was none."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._ahead += 1
