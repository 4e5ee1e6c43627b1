"""Checking throughput against the simulated farm: checks per second, checker CPU seconds per
check and peak RSS, for farms of 1,000 and 10,000 proxies at several concurrency levels.

    .venv/bin/python -m bench.check_farm
    .venv/bin/python -m bench.check_farm --sizes 1000 --concurrency 50 500 --loop uvloop

The farm and the judge run in one process, each measurement's checker in a fresh process of
its own, so the checker's CPU time and peak RSS are its own and the two use both cores as
they would on a real host. Every level checks the whole farm `--rounds` times; a level is
cut off after `--level-timeout` seconds. The farm is `FarmSpec.spread`: every kind in equal
numbers (dead, slow, flaky, with login, ...), slow ones 50 ms slow. uvloop, when asked for,
runs in both processes.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from proxyfleet.core.proxies import ProxyAddress
from proxyfleet.pool.checkers import CheckContext, CheckerRegistry, Pipeline, own_public_ip
from proxyfleet.runtime import tune_collector
from proxyfleet.sim.farm import Behaviour, Farm, FarmSpec, ProxyTruth
from proxyfleet.sim.judge import Judge

CHECK_TIMEOUT = 5.0


@dataclass(frozen=True)
class Level:
    size: int
    concurrency: int
    checks: int
    alive: int
    mislabelled: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    farm_cpu_s: float
    farm_rss_mb: float

    def row(self) -> list[str]:
        return [
            f"{self.size:,}", str(self.concurrency), f"{self.checks:,}", f"{self.alive:,}",
            str(self.mislabelled), f"{self.wall_s:.2f}", f"{self.checks / self.wall_s:,.0f}",
            f"{self.cpu_s / self.checks * 1e3:.2f}", f"{self.farm_cpu_s / self.checks * 1e3:.2f}",
            f"{self.peak_rss_mb:.0f}", f"{self.farm_rss_mb:.0f}",
        ]


HEADER = ["farm", "conc", "checks", "alive", "wrong", "wall s", "checks/s",
          "checker CPU ms/check", "farm+judge CPU ms/check", "checker peak RSS MB",
          "farm+judge peak RSS MB"]


def run_loop(main: Callable[[], Coroutine[Any, Any, None]], loop: str) -> None:
    if loop == "uvloop":
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# --- the farm process --------------------------------------------------------------------------

def farm_process(size: int, pipe: Connection, loop: str) -> None:
    async def serve() -> None:
        spec = FarmSpec.spread(size, slow_delay=0.05, listen_prefix="127.81",
                               egress_prefix="127.82")
        async with Judge() as judge, Farm(spec) as farm:
            pipe.send((judge.url, farm.proxies))
            while await _receive(pipe) == "cpu?":  # asked between levels; "stop" at the end
                pipe.send((time.process_time(), peak_rss_mb()))

    run_loop(serve, loop)


async def _receive(pipe: Connection) -> object:
    # Wait for the pipe without blocking the loop: the farm must keep serving meanwhile.
    loop = asyncio.get_running_loop()
    readable = loop.create_future()
    loop.add_reader(pipe.fileno(), readable.set_result, None)
    try:
        await readable
    finally:
        loop.remove_reader(pipe.fileno())
    return pipe.recv()


# --- a checker process -------------------------------------------------------------------------

def checker_process(judge_url: str, proxies: list[tuple[ProxyAddress, ProxyTruth]],
                    concurrency: int, rounds: int, level_timeout: float, pipe: Connection,
                    loop: str) -> None:
    async def check() -> None:
        ctx = CheckContext(judge_url, await own_public_ip(judge_url), timeout=CHECK_TIMEOUT)
        pipeline = Pipeline(CheckerRegistry.load())
        truths = {proxy.key: truth for proxy, truth in proxies}
        tune_collector()  # as the `proxyfleet` command does before it checks
        checks = alive = wrong = 0
        cpu, started = time.process_time(), time.perf_counter()
        async with asyncio.timeout(level_timeout):
            listing = [proxy for proxy, _ in proxies] * rounds
            async for result in pipeline.check_many(listing, ctx, concurrency):
                truth = truths[result.proxy.key]
                checks, alive = checks + 1, alive + result.alive
                wrong += _mislabelled(result.alive, result.findings.exit_ip, truth)
        pipe.send((checks, alive, wrong, time.perf_counter() - started,
                   time.process_time() - cpu, peak_rss_mb()))

    run_loop(check, loop)


def _mislabelled(alive: bool, exit_ip: str | None, truth: ProxyTruth) -> bool:
    # A flaky proxy's verdict depends on how often it was checked before: not a label.
    if truth.behaviour is Behaviour.FLAKY:
        return False
    return alive != truth.alive or (alive and exit_ip != truth.exit_ip)


# --- the driver --------------------------------------------------------------------------------

def measure_size(size: int, levels: list[int], rounds: int, level_timeout: float,
                 loop: str) -> list[Level]:
    context = multiprocessing.get_context("fork")
    farm_end, ours = context.Pipe()
    farm = context.Process(target=farm_process, args=(size, farm_end, loop), daemon=True)
    farm.start()
    judge_url, proxies = ours.recv()
    results = []
    try:
        for concurrency in levels:
            results.append(_measure_level(context, ours, (judge_url, proxies),
                                          (concurrency, rounds, level_timeout), loop))
            print(line(results[-1].row()), flush=True)
    finally:
        ours.send("stop")
        farm.join(10)
    return results


def _measure_level(context: Any, farm: Connection,
                   world: tuple[str, list[tuple[ProxyAddress, ProxyTruth]]],
                   knobs: tuple[int, int, float], loop: str) -> Level:
    farm.send("cpu?")
    farm_cpu, _ = farm.recv()
    checker_end, ours = context.Pipe()
    checker = context.Process(target=checker_process,
                              args=(*world, *knobs, checker_end, loop))
    checker.start()
    checks, alive, wrong, wall, cpu, rss = ours.recv()
    checker.join(10)
    farm.send("cpu?")
    farm_cpu_after, farm_rss = farm.recv()
    return Level(len(world[1]), knobs[0], checks, alive, wrong, wall, cpu, rss,
                 farm_cpu_after - farm_cpu, farm_rss)


def line(cells: list[str]) -> str:
    # Rows print as levels finish, so widths come from the header, not from all the rows.
    widths = (max(len(name), 7) for name in HEADER)
    return "  ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[50, 200, 1000])
    parser.add_argument("--rounds", type=int, default=3, help="checks of the whole farm per level")
    parser.add_argument("--level-timeout", type=float, default=120.0)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    args = parser.parse_args()
    print(f"loop: {args.loop}; check timeout {CHECK_TIMEOUT:g} s; farm = FarmSpec.spread")
    print(line(HEADER), flush=True)
    for size in args.sizes:
        measure_size(size, args.concurrency, args.rounds, args.level_timeout, args.loop)


if __name__ == "__main__":
    main()
