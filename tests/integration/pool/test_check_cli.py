"""`proxyfleet check FILE|-`: a list checked with no server running, one verdict per line."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from proxyfleet.sim.farm import Farm, FarmSpec

pytestmark = pytest.mark.slow


async def _run(*args: str, stdin: bytes | None = None) -> tuple[int, str]:
    # Asynchronously: the farm answering the checks runs in this very loop.
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxyfleet", "check", *args, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(process.communicate(stdin), 120)
    assert process.returncode is not None
    return process.returncode, err.decode()


async def test_check_labels_every_line_of_a_file(tmp_path: Path) -> None:
    async with Farm(FarmSpec.of_every_kind(1, slow_delay=0.1)) as farm:
        lines = [address.url(with_credentials=True) for address, _ in farm.proxies]
        listing = tmp_path / "list.txt"
        listing.write_text("# my list\n" + "\n".join(lines) + "\nthis is not a proxy\n")
        out = tmp_path / "verdicts.json"
        code, summary = await _run(str(listing), "--json", str(out), "--timeout", "3",
                                   "--concurrency", "64")
        truths = [truth for _, truth in farm.proxies]

    assert code == 0, summary
    verdicts = json.loads(out.read_text())
    assert [v["proxy"] for v in verdicts] == [*lines, "this is not a proxy"]
    for verdict, truth in zip(verdicts, truths, strict=False):
        assert verdict["alive"] is truth.alive, verdict
        assert verdict["protocol"] == truth.protocol.value
        if truth.alive:
            assert verdict["anonymity"] == truth.anonymity
            assert verdict["exit_ip"] == truth.exit_ip
            assert verdict["latency_ms"] > 0
            assert verdict["error"] is None
        else:
            assert verdict["error"]
    assert verdicts[-1]["error"] == "not a proxy address"
    alive = sum(t.alive for t in truths)
    assert f"checked {len(lines) + 1} in" in summary
    assert f"{len(lines) + 1}/{len(lines) + 1}" in summary  # the bar ends full
    assert f"{alive} alive" in summary


async def test_check_reads_standard_input(tmp_path: Path) -> None:
    async with Farm(FarmSpec.of_every_kind(1)) as farm:
        alive = [a for a, t in farm.proxies if t.alive][:3]
        text = "\n".join(a.url(with_credentials=True) for a in alive).encode()
        out = tmp_path / "out.json"
        code, summary = await _run("-", "--json", str(out), "--timeout", "3", stdin=text)
    assert code == 0, summary
    assert [v["alive"] for v in json.loads(out.read_text())] == [True, True, True]


async def test_check_of_a_missing_file_fails_cleanly(tmp_path: Path) -> None:
    code, err = await _run(str(tmp_path / "missing.txt"))
    assert code == 2
    assert "cannot read" in err
