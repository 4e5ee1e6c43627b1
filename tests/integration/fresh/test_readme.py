"""The README runs as written: every fenced block marked `<!-- runnable -->` runs, in order,
in one shell, against `proxyfleet serve` (what `make run` starts) on localhost:8000 — in a
network namespace of its own, so the README's port is free whatever else runs here. Sections
added later join the run by carrying the marker. Links to files resolve."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"
BLOCK = re.compile(r"<!-- runnable -->\s*\n```(?:sh|bash)\n(.*?)\n```", re.DOTALL)

pytestmark = pytest.mark.slow


def runnable_blocks(text: str) -> list[str]:
    return BLOCK.findall(text)


PROLOGUE = """set -euo pipefail
ip link set lo up
.venv/bin/proxyfleet serve > "$PROXYFLEET_DATA_DIR/serve.log" 2>&1 &
trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT
for _ in $(seq 120); do curl -sf localhost:8000/health > /dev/null && break; sleep 0.5; done
"""


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="a network namespace needs root and unshare")
def test_every_runnable_block_runs_as_written(tmp_path: Path) -> None:
    blocks = runnable_blocks(README.read_text())
    assert len(blocks) >= 2
    script = tmp_path / "readme.sh"
    script.write_text(PROLOGUE + "\n".join(f"echo '== block {n}'\n{block}"
                                           for n, block in enumerate(blocks, 1)) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROXYFLEET_")}
    env["PROXYFLEET_DATA_DIR"] = str(tmp_path / "data")
    (tmp_path / "data").mkdir()
    done = subprocess.run(["unshare", "--net", "--kill-child", "bash", str(script)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=240, check=False)
    served = (tmp_path / "data" / "serve.log").read_text(errors="replace")
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{served[-3000:]}"
    # The walkthrough ends with a lease of a checked proxy from the demo's world.
    assert '"lease_id"' in done.stdout.splitlines()[-1], done.stdout[-2000:]


def test_links_resolve_inside_the_repository() -> None:
    for document in (README, ROOT / "ARCHITECTURE.md"):
        for target in re.findall(r"\]\(([^)\s]+)\)", document.read_text()):
            if re.match(r"[a-z]+:|#", target):
                continue
            assert (document.parent / target.split("#")[0]).exists(), (document.name, target)


def test_the_marker_finds_blocks_and_nothing_else() -> None:
    text = "```sh\nnot me\n```\n<!-- runnable -->\n```sh\necho one\necho two\n```\n"
    assert runnable_blocks(text) == ["echo one\necho two"]
