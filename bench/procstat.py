"""CPU seconds a server process has used, found by the port it listens on (Linux /proc).

Rates on a 2-core machine shared by client, proxy and origin swing from run to run; the CPU a
proxy spends per request or per byte moves much less, so the comparisons print both. A
daemon started in a session of its own (`start_new_session`, as the daemon tests start them)
is counted with every process of its group (dante forks); a child of this process, by itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_LISTEN = "0A"


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == _LISTEN and int(local.rsplit(":", 1)[1], 16) == port:
                    inodes.add(inode)
    return inodes


def listener_pid(port: int) -> int:
    """A process holding the socket that listens on `port`."""
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        try:
            for descriptor in (process / "fd").iterdir():
                if os.readlink(descriptor) in wanted:
                    return int(process.name)
        except OSError:  # gone, or not ours to look at
            continue
    raise LookupError(f"nothing listens on port {port}")


def _stat(pid: int, *, reaped: bool = False) -> tuple[int, float]:
    """(process group, CPU seconds) of one process; with `reaped`, its waited-for children's
    too, so a forking daemon's total does not drop when a child exits."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return int(fields[2]), ticks / _CLOCK_TICKS


def cpu_seconds(pid: int) -> float:
    """CPU seconds one process has used so far (its threads included)."""
    return _stat(pid)[1]


def cpu_meter(port: int) -> Callable[[], float]:
    """A function giving the CPU seconds used so far by whatever serves `port`."""
    pid = listener_pid(port)
    group = os.getpgid(pid)
    if group == os.getpgrp():
        return lambda: _stat(pid)[1]

    def group_cpu() -> float:
        total = 0.0
        for process in Path("/proc").iterdir():
            if process.name.isdigit():
                try:
                    member_group, seconds = _stat(int(process.name), reaped=True)
                except (OSError, IndexError, ValueError):
                    continue
                if member_group == group:
                    total += seconds
        return total

    return group_cpu
