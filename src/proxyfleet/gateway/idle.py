"""`IdleWatch`: one timer that notices when the legs of a connection have gone quiet.

Standard library only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol


class Active(Protocol):
    @property
    def last_active(self) -> float:
        """`time.monotonic()` when bytes last arrived."""
        ...


class IdleWatch:
    """Calls `on_idle` once neither leg has received anything for `timeout` seconds: one
    timer, re-armed for the time left when it fires, so it costs nothing per chunk."""

    def __init__(self, legs: tuple[Active, ...], timeout: float, on_idle: Callable[[], None],
                 ) -> None:
        self._legs = legs
        self._timeout = timeout
        self._on_idle = on_idle
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._arm(self._timeout)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, delay: float) -> None:
        self._timer = asyncio.get_running_loop().call_later(delay, self._check)

    def _check(self) -> None:
        idle = time.monotonic() - max(leg.last_active for leg in self._legs)
        if idle >= self._timeout:
            self._timer = None
            self._on_idle()
        else:
            self._arm(self._timeout - idle)
