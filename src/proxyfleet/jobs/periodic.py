"""Run a job every few seconds until cancelled; one failing round never stops the next."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

log = structlog.get_logger(__name__)


async def every(seconds: float, job: Callable[[], Awaitable[Any]], name: str) -> None:
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("periodic job failed", job=name)
        await asyncio.sleep(seconds)
