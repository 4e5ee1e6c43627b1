"""What one check costs the simulated farm and its judges, counted in instructions: a steady
figure on a machine whose timings swing from run to run.

The farm process of `bench.check_compare` (`FarmSpec.spread`, slow ones 50 ms slow, both
judges) runs under valgrind's callgrind with the uvloop loop, while a checker in this process
checks the whole farm, with proxyfleet's pipeline or proxyscraper's checker, `--rounds` times
and then 5·`--rounds` times. The difference in the farm's instructions over the difference in
checks is what one check costs the farm and judges (dead proxies, which cost the farm nothing,
included), so start-up costs cancel. Usage, from the repository root (valgrind needed):

    .venv/bin/python -m bench.farm_cycle [--size 250] [--rounds 2] [--tool proxyfleet]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.check_compare import TOOLS, ScraperJudge
from bench.check_farm import run_loop
from proxyfleet.sim.farm import Farm, FarmSpec
from proxyfleet.sim.judge import Judge

JUDGE_HOST = "127.0.0.3"


def serve(size: int) -> None:
    """The farm process: print the world, answer "fresh" lines, end at EOF."""

    async def main() -> None:
        spec = FarmSpec.spread(size, slow_delay=0.05, listen_prefix="127.93",
                               egress_prefix="127.94")
        async with Judge(host=JUDGE_HOST) as judge, ScraperJudge(JUDGE_HOST) as scraper, \
                Farm(spec) as farm:
            world = pickle.dumps((judge.url, scraper.address, farm.proxies))
            print(base64.b64encode(world).decode(), flush=True)
            loop = asyncio.get_running_loop()
            while line := await loop.run_in_executor(None, sys.stdin.readline):
                for member in farm.members:
                    member.requests = 0
                print(line.strip(), flush=True)

    run_loop(main, "uvloop")


async def check_rounds(tool: str, world: object, farm: subprocess.Popen[str], rounds: int,
                       concurrency: int = 20) -> int:
    """Check the farm `rounds` times with `tool`; how many checks that made."""
    checker = TOOLS[tool]()
    await checker.prepare(world)  # type: ignore[arg-type]
    checks = 0
    assert farm.stdin is not None and farm.stdout is not None
    for number in range(rounds):
        farm.stdin.write(f"{number}\n")  # the farm forgets how often it was asked
        farm.stdin.flush()
        farm.stdout.readline()
        async for _ in checker.verdicts(concurrency):
            checks += 1
    return checks


def _instructions(tool: str, size: int, rounds: int, scratch: Path) -> int:
    out = scratch / f"callgrind.{rounds}"
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
               sys.executable, "-m", "bench.farm_cycle", "--serve", str(size)]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as farm:
        assert farm.stdout is not None and farm.stdin is not None and farm.stderr is not None
        printed = farm.stdout.readline().strip()
        if not printed:
            raise SystemExit(f"the farm did not start:\n{farm.stderr.read()[-2000:]}")
        world = pickle.loads(base64.b64decode(printed))
        started = time.perf_counter()
        checks = asyncio.run(check_rounds(tool, world, farm, rounds))
        print(f"  {rounds} rounds: {checks:,} checks in {time.perf_counter() - started:.0f} s",
              file=sys.stderr, flush=True)
        farm.stdin.close()
        found = re.search(r"Collected : (\d+)", farm.stderr.read())
    if found is None:
        raise SystemExit("callgrind printed no count")
    return int(found[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tool", choices=sorted(TOOLS), default="proxyfleet")
    parser.add_argument("--keep", type=Path, help="a folder to keep callgrind's files in")
    parser.add_argument("--serve", type=int, metavar="SIZE", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve:
        serve(arguments.serve)
        return
    cost = per_check(lambda rounds, folder: _instructions(arguments.tool, arguments.size, rounds,
                                                          folder),
                     arguments.rounds, arguments.size, arguments.keep)
    print(f"farm+judge instructions per {arguments.tool} check (callgrind, FarmSpec.spread"
          f"({arguments.size}), {5 * arguments.rounds} - {arguments.rounds} rounds): {cost:,.0f}")


def per_check(instructions: Callable[[int, Path], int], rounds: int, size: int,
              keep: Path | None) -> float:
    """Instructions per check: `instructions(rounds, folder)` counted for `rounds` and for
    5·`rounds` rounds of `size` checks, the difference over the difference in checks (so
    start-up costs cancel). Callgrind's files go to `keep`, if given."""
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    few, many = rounds, 5 * rounds
    with tempfile.TemporaryDirectory() as scratch:
        folder = keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        counts = [instructions(count, folder) for count in (few, many)]
    return (counts[1] - counts[0]) / ((many - few) * size)

if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
