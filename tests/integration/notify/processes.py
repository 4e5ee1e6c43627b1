"""`proxyfleet serve` as a child process, started and awaited without blocking the test's
loop (the loop serves the receivers the child delivers to)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from tests.integration.test_process import _free_port, server_env

# Only stops a broken test from hanging: on a loaded machine `serve --workers` takes 40 s.
WAIT_SECONDS = 120.0


def notify_env(data_dir: Path, database_url: str, redis_url: str | None,
               **extra: str) -> dict[str, str]:
    env = server_env(data_dir, database_url, redis_url)
    env |= {"PROXYFLEET_NOTIFY_POLL_SECONDS": "0.1", "PROXYFLEET_POOL_WATCHES": "[]",
            "PROXYFLEET_SCHEDULER_TICK_SECONDS": "0.2"}
    return env | extra


@asynccontextmanager
async def serve(env: dict[str, str], *args: str) -> AsyncIterator[subprocess.Popen[bytes]]:
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "proxyfleet", "serve", *args],
                               env=env | {"PROXYFLEET_PORT": str(port)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await until(lambda: _up(port, process), "serve to come up")
        process.base_url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
        await asyncio.to_thread(process.wait, 20)


async def _up(port: int, process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"serve exited early with {process.returncode}")
    try:
        async with httpx.AsyncClient(timeout=1) as http:
            return (await http.get(f"http://127.0.0.1:{port}/health")).status_code == 200
    except httpx.TransportError:
        return False


async def until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait until `condition` holds; the deadline only stops a broken test from hanging."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while not await condition():
        if loop.time() > deadline:
            raise AssertionError(f"waited {WAIT_SECONDS:.0f} s for {what}")
        await asyncio.sleep(0.05)
