"""Run a job every few seconds until cancelled; one failing round never stops the next.

May import `storage` (to tell a database failure from a bug)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from proxyfleet.storage.database import is_database_failure

log = structlog.get_logger(__name__)


async def every(seconds: float, job: Callable[[], Awaitable[Any]], name: str) -> None:
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            _failed(name, error)
        await asyncio.sleep(seconds)


def _failed(name: str, error: Exception) -> None:
    if is_database_failure(error):  # the database (or the network) failed, not the code
        # One line per round: while the database is down every job fails this way each
        # round, and rendering a traceback with its locals costs the event loop seconds,
        # which the requests answered 503 meanwhile would wait behind.
        log.warning("periodic job failed", job=name,
                    error=f"{type(error).__name__}: {str(error)[:200]}")
        return
    log.exception("periodic job failed", job=name)
