"""What one check costs the checker, counted in instructions: a steady figure on a machine
whose timings swing from run to run (the checker's side of `bench.farm_cycle`).

The checker (proxyfleet's pipeline, or proxyscraper's checker) runs under valgrind's callgrind
with the uvloop loop and checks the farm of `bench.farm_cycle` (`FarmSpec.spread`, slow ones
50 ms slow, both judges), which runs untraced in a process of its own, `--rounds` times and
then 5·`--rounds` times, each after one warm-up round. The difference in the checker's
instructions over the difference in checks is what one check costs it (dead proxies
included), so start-up and warm-up cancel. Usage, from the repository root (valgrind needed):

    .venv/bin/python -m bench.check_cycle [--size 250] [--rounds 2] [--tool proxyfleet]
        [--concurrency 20]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import pickle
import re
import subprocess
import sys
import time
from pathlib import Path

from bench.check_compare import TOOLS
from bench.check_farm import run_loop
from bench.farm_cycle import check_rounds, per_check


def run(tool: str, size: int, rounds: int, concurrency: int) -> None:
    """The traced process: start the farm, check it once to warm up, then `rounds` times."""
    command = [sys.executable, "-m", "bench.farm_cycle", "--serve", str(size)]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          text=True) as farm:
        assert farm.stdout is not None and farm.stdin is not None
        printed = farm.stdout.readline().strip()
        if not printed:
            raise SystemExit("the farm did not start")
        world = pickle.loads(base64.b64decode(printed))

        async def main() -> None:
            await check_rounds(tool, world, farm, 1, concurrency)
            checks = await check_rounds(tool, world, farm, rounds, concurrency)
            print(checks, flush=True)

        run_loop(main, "uvloop")
        farm.stdin.close()


def _instructions(tool: str, size: int, rounds: int, concurrency: int, folder: Path) -> int:
    out = folder / f"callgrind.{tool}.{rounds}"
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
               sys.executable, "-m", "bench.check_cycle", "--run", str(size), str(rounds),
               str(concurrency), "--tool", tool]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"the traced checker failed:\n{done.stderr[-2000:]}")
    checks = int(done.stdout.split()[-1])
    print(f"  {rounds} rounds: {checks:,} checks in {time.perf_counter() - started:.0f} s",
          file=sys.stderr, flush=True)
    return int(found[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--tool", choices=sorted(TOOLS), default="proxyfleet")
    parser.add_argument("--keep", type=Path, help="a folder to keep callgrind's files in")
    parser.add_argument("--run", type=int, nargs=3, metavar=("SIZE", "ROUNDS", "CONCURRENCY"),
                        help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.run:
        run(arguments.tool, *arguments.run)
        return
    cost = per_check(lambda rounds, folder: _instructions(
        arguments.tool, arguments.size, rounds, arguments.concurrency, folder),
        arguments.rounds, arguments.size, arguments.keep)
    print(f"checker instructions per {arguments.tool} check (callgrind, FarmSpec.spread"
          f"({arguments.size}), concurrency {arguments.concurrency}, {5 * arguments.rounds} - "
          f"{arguments.rounds} rounds): {cost:,.0f}")

if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
