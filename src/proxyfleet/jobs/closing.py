"""Close a process's parts in order, each step bounded: a part that hangs on its way out (a
driver waiting on a dead peer, a task that swallows its cancellation) is logged and left
behind, and closing goes on with the next part, so a stopping process always stops."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

import structlog

log = structlog.get_logger(__name__)

Step = tuple[str, Callable[[], Awaitable[object]]]

# A step slower than this is logged with its time, so a slow shutdown names its part.
SLOW_STEP_SECONDS = 1.0


async def close_in_order(steps: Sequence[Step], seconds: float) -> list[str]:
    """Run each step in turn, giving it at most `seconds`; answer the names of the steps
    that failed or were left behind. A step left behind is cancelled and not waited for."""
    missed = []
    for name, step in steps:
        started = time.monotonic()
        task = asyncio.ensure_future(step())
        done, _ = await asyncio.wait({task}, timeout=seconds)
        took = time.monotonic() - started
        if not done:
            task.cancel()
            # Whatever it ends with later is of no interest any more.
            task.add_done_callback(_forget)
            log.warning("closing: step left behind", step=name, seconds=seconds)
            missed.append(name)
        elif not task.cancelled() and (error := task.exception()) is not None:
            log.warning("closing: step failed", step=name, error=str(error))
            missed.append(name)
        elif took > SLOW_STEP_SECONDS:
            log.info("closing: slow step", step=name, seconds=round(took, 2))
    return missed


def _forget(task: asyncio.Future[object]) -> None:
    if not task.cancelled():
        task.exception()
