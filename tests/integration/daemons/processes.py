"""Real proxy daemons from Debian, run by the tests: found on PATH (or failing the test when
missing, since `.ci/run` installs them), started on a free loopback port with a config file in
a temporary folder, waited for until they accept connections, and stopped with their whole
process group.

Every daemon listens on `LISTEN` and egresses from `EGRESS`, another loopback address, so the
judge tells the proxy's address from ours (`LISTEN`, which is what the judge sees when asked
directly).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

LISTEN = "127.0.0.1"
EGRESS = "127.0.0.2"
START_TIMEOUT = 10.0
STOP_GRACE = 0.5
# Daemons live in sbin; a test run by a user without sbin on PATH must still find them.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def binary(command: str, package: str) -> str:
    """The daemon's executable; a missing one fails the test (CI installs it), never skips."""
    found = shutil.which(command, path=SEARCH_PATH)
    if found is None:
        pytest.fail(f"{command} is not installed: `apt-get install {package}` (.ci/run does)")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LISTEN, 0))
        return int(probe.getsockname()[1])


def accepts(port: int) -> bool:
    try:
        with socket.create_connection((LISTEN, port), timeout=0.5):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def running(argv: list[str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The daemon `argv`, in the foreground in its own session, listening on `port`."""
    with log.open("wb") as output:
        daemon = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=output,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_listening(daemon, port, log)
        yield daemon
    finally:
        stop(daemon)


def _wait_listening(daemon: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not accepts(port):
        if daemon.poll() is not None:
            pytest.fail(f"{daemon.args!r} exited with {daemon.returncode}:\n{_tail(log)}")
        if time.monotonic() > deadline:
            pytest.fail(f"{daemon.args!r} did not listen on {port} in {START_TIMEOUT:g} s")
        time.sleep(0.02)


def stop(daemon: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the daemon's process group (dante forks children), then SIGKILL: squid takes
    a second or two to exit cleanly, and nothing of these throwaway daemons needs saving."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(daemon.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            daemon.wait(STOP_GRACE)
            return


def _tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
