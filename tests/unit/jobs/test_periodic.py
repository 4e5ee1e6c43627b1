"""A periodic job's failing round: a line when the database is down, a traceback for a bug."""

from __future__ import annotations

import asyncio
import contextlib

from structlog.testing import capture_logs

from proxyfleet.jobs.periodic import every


async def _two_rounds(error: Exception) -> list[dict[str, object]]:
    rounds = 0

    async def job() -> None:
        nonlocal rounds
        rounds += 1
        raise error

    with capture_logs() as logs:
        running = asyncio.ensure_future(every(0.001, job, "probe"))
        while rounds < 2:
            await asyncio.sleep(0.001)
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    return logs


async def test_a_database_failure_is_one_line_without_a_traceback() -> None:
    logs = await _two_rounds(ConnectionRefusedError("connection refused"))
    assert len(logs) >= 2
    for entry in logs:
        assert entry["log_level"] == "warning" and entry["job"] == "probe"
        assert "exc_info" not in entry
        assert entry["error"] == "ConnectionRefusedError: connection refused"


async def test_a_bug_keeps_its_traceback() -> None:
    logs = await _two_rounds(KeyError("missing"))
    assert logs and all(entry["log_level"] == "error" and entry.get("exc_info")
                        for entry in logs)
