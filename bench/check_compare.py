"""Side by side: the same simulated farm checked by proxyfleet's pipeline and by
proxy-scraper-cli's checker library (`proxyscraper.checker.Checker`), in one run.

    .venv/bin/python -m bench.check_compare
    .venv/bin/python -m bench.check_compare --size 1000 --concurrency 200 --rounds 5 --loop uvloop
    .venv/bin/python -m bench.check_compare --whole-process --rounds 5

`--whole-process` measures as a user feels it: each turn is a whole command, from start to
exit (interpreter, imports, judge set-up, checks, JSON out): `proxyfleet check LIST --judge
URL --json OUT` against `bench.scraper_check` (proxyscraper's checker driven as below, in a
process that imports nothing else). Without it, each tool's imports and set-up are untimed.

For each tool: proxies checked, wall seconds, checks per second, checker CPU ms per check, how
busy the farm process was (its CPU seconds over the turn's wall seconds: near 100 % means the
farm, not the checker, set the pace), and wrong labels against the farm's truth (alive/dead
and exit IP for both; anonymity too, which proxyscraper reports from its second, "confirm"
request). Then the throughput ratio, of the best and of the median turns, and the median of
the rounds' own ratios (each round's two turns run back to back, so a machine whose speed
drifts during a run, as small shared ones do, moves both alike).

The farm (`FarmSpec.spread`, slow ones 50 ms slow) and both judges run in one process; each
tool checks in a fresh process of its own, so its CPU time is its own. Before each tool's
turn the farm forgets how often it was asked, so flaky proxies drop the first request for both.

proxyscraper wants two judges of another shape than proxyfleet's: a plain-text "your IP" page
for its basic check and an httpbin-style `/get` for its confirmation. `ScraperJudge` serves
both on loopback from the same report proxyfleet's judge builds; the checker is configured to
use it and nothing else (no HTTPS test, no integrity page, no direct "is the target up?"
probes), and an audit hook in its process refuses any connection off loopback.

Both judges listen on `--judge-host` (127.0.0.3 by default), not on 127.0.0.1, our own address:
proxyscraper calls a proxy transparent when our address appears anywhere in the judge's answer,
and a judge on 127.0.0.1 puts it into the Host header of every answer.

How proxyscraper's answers are read: a proxy is alive when its basic check and its confirmation
pass; a basic check failed for `own_ip_exposed` means a working, transparent proxy. It has no
`https` type, so the farm's HTTPS (CONNECT) proxies are checked as `http`, which they also are.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NamedTuple

from bench.check_farm import run_loop
from bench.scraper_check import (
    CONFIRM_PATH,
    IP_PATH,
    loopback_only,
    make_checker,
    require_loopback,
)
from bench.scraper_check import verdict as scraper_verdict
from proxyfleet.core.proxies import Anonymity, ProxyAddress, ProxyProtocol
from proxyfleet.pool.checkers import CheckContext, CheckerRegistry, Pipeline, own_public_ip
from proxyfleet.pool.judge import judge_report
from proxyfleet.runtime import tune_collector
from proxyfleet.sim.farm import Farm, FarmSpec, ProxyTruth
from proxyfleet.sim.judge import Judge, report_json, response

CHECK_TIMEOUT = 5.0
SCRAPER_IP_PATH, SCRAPER_CONFIRM_PATH = IP_PATH, CONFIRM_PATH
World = tuple[str, tuple[str, int], list[tuple[ProxyAddress, ProxyTruth]]]


class Verdict(NamedTuple):
    """What a tool says of one proxy; `anonymity` None when it does not say."""

    alive: bool
    exit_ip: str | None
    anonymity: Anonymity | None


DEAD = Verdict(False, None, None)


def wrong_labels(verdict: Verdict, truth: ProxyTruth) -> list[str]:
    wrong = []
    if verdict.alive != truth.alive:
        wrong.append(f"alive {verdict.alive}, truly {truth.alive}")
    elif verdict.alive and verdict.exit_ip != truth.exit_ip:
        wrong.append(f"exit {verdict.exit_ip}, truly {truth.exit_ip}")
    if verdict.alive and truth.alive and verdict.anonymity not in (None, truth.anonymity):
        wrong.append(f"{verdict.anonymity}, truly {truth.anonymity}")
    return wrong


# --- proxyscraper's judge --------------------------------------------------------------------

class ScraperJudge(Judge):
    """The judge proxyscraper expects: `/ip` answers the peer address as text, `/get` the
    httpbin-style JSON report (the same `judge_report` proxyfleet's judge sends). Served the
    way proxyfleet's judge is served, so neither tool's judge costs the farm process more."""

    def __init__(self, host: str) -> None:
        super().__init__(host, io_timeout=CHECK_TIMEOUT * 2)

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def answer(self, method: str, target: str, peer_ip: str,
               headers: list[tuple[str, str]]) -> bytes:
        return _scraper_answer(target, peer_ip, headers)


def _scraper_answer(target: str, peer_ip: str, headers: list[tuple[str, str]]) -> bytes:
    path = target.split("?", 1)[0]
    if path == SCRAPER_IP_PATH:
        return response(200, "OK", peer_ip.encode(), "text/plain")
    if path == SCRAPER_CONFIRM_PATH:
        return response(200, "OK", report_json(judge_report(peer_ip, headers)),
                        "application/json")
    return response(404, "Not Found", b"", "text/plain")


# --- the farm process --------------------------------------------------------------------------

def farm_process(size: int, judge_host: str, pipe: Connection, loop: str) -> None:
    async def serve() -> None:
        spec = FarmSpec.spread(size, slow_delay=0.05, listen_prefix="127.91",
                               egress_prefix="127.92")
        async with Judge(host=judge_host) as judge, ScraperJudge(judge_host) as scraper_judge, \
                Farm(spec) as farm:
            pipe.send((judge.url, scraper_judge.address, farm.proxies))
            # "fresh" before a turn, "cpu" after it, "stop" at the end.
            while (command := await _receive(pipe)) != "stop":
                if command == "fresh":
                    for member in farm.members:
                        member.requests = 0
                pipe.send(time.process_time())

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


# --- a turn: one tool checks the whole farm, in a process of its own ---------------------------

@dataclass
class Turn:
    tool: str
    checks: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    farm_cpu_s: float = 0.0
    wrong: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.checks / self.wall_s if self.wall_s else 0.0

    def row(self) -> list[str]:
        return [self.tool, f"{self.checks:,}", f"{self.wall_s:.2f}", f"{self.rate:,.0f}",
                f"{self.cpu_s / max(self.checks, 1) * 1e3:.2f}",
                f"{self.farm_cpu_s / max(self.wall_s, 1e-9):.0%}", str(len(self.wrong))]


class Tool:
    """One checker under test: `prepare` (untimed: imports, our address, set-up), then
    `verdicts` (timed), one per farm proxy, with its truth."""

    async def prepare(self, world: World) -> None:
        raise NotImplementedError

    def verdicts(self, concurrency: int) -> AsyncIterator[tuple[Verdict, ProxyTruth]]:
        raise NotImplementedError


def turn_process(tool: str, world: World, knobs: tuple[int, float, str],
                 pipe: Connection) -> None:
    concurrency, limit_s, loop = knobs

    async def run() -> None:
        checker, turn = TOOLS[tool](), Turn(tool)
        await checker.prepare(world)
        cpu, started = time.process_time(), time.perf_counter()
        async with asyncio.timeout(limit_s):
            async for verdict, truth in checker.verdicts(concurrency):
                turn.checks += 1
                turn.wrong += [f"{truth.protocol}/{truth.behaviour}: {w}"
                               for w in wrong_labels(verdict, truth)]
        turn.wall_s, turn.cpu_s = time.perf_counter() - started, time.process_time() - cpu
        pipe.send(turn)

    run_loop(run, loop)


class Proxyfleet(Tool):
    """proxyfleet's pipeline of built-in checkers, as `proxyfleet check` runs it."""

    async def prepare(self, world: World) -> None:
        judge_url, _, proxies = world
        self.ctx = CheckContext(judge_url, await own_public_ip(judge_url), timeout=CHECK_TIMEOUT)
        self.pipeline = Pipeline(CheckerRegistry.load(entry_points=[]))
        self.proxies = [proxy for proxy, _ in proxies]
        # By identity: the results carry the very objects checked, and a key per result
        # would be the benchmark's cost, not the checker's.
        self.truths = {id(proxy): truth for proxy, truth in proxies}
        tune_collector()  # as `proxyfleet check` does before it checks

    async def verdicts(self, concurrency: int) -> AsyncIterator[tuple[Verdict, ProxyTruth]]:
        async for result in self.pipeline.check_many(self.proxies, self.ctx, concurrency):
            found = result.findings
            yield (Verdict(result.alive, found.exit_ip, found.anonymity),
                   self.truths[id(result.proxy)])


class Proxyscraper(Tool):
    """proxyscraper's `Checker` as its own check run drives it: N workers pulling from one
    queue, each proxy a basic check, then a confirmation for those that pass."""

    async def prepare(self, world: World) -> None:
        sys.addaudithook(loopback_only)
        host, port = world[1]
        self.checker = make_checker(host, port, await own_public_ip(world[0]), CHECK_TIMEOUT)
        self.keyed = [(_scraper_key(proxy), truth) for proxy, truth in world[2]]

    async def verdicts(self, concurrency: int) -> AsyncIterator[tuple[Verdict, ProxyTruth]]:
        done: asyncio.Queue[tuple[Verdict, ProxyTruth]] = asyncio.Queue()
        jobs = iter(self.keyed)
        async with asyncio.TaskGroup() as workers:
            for number in range(min(concurrency, len(self.keyed))):
                workers.create_task(self._work(jobs, done), name=f"scraper {number}")
        while not done.empty():
            yield done.get_nowait()

    async def _work(self, jobs: Iterable[tuple[str, ProxyTruth]],
                    done: asyncio.Queue[tuple[Verdict, ProxyTruth]]) -> None:
        for key, truth in jobs:
            done.put_nowait((_as_verdict(await scraper_verdict(self.checker, key)), truth))


def _as_verdict(said: Sequence[Any]) -> Verdict:
    alive, exit_ip, anonymity = said
    return Verdict(bool(alive), exit_ip, Anonymity(anonymity) if anonymity else None)


def _scraper_key(proxy: ProxyAddress) -> str:
    from proxyscraper.handshake import format_auth  # type: ignore[import-untyped]

    ptype = "http" if proxy.protocol is ProxyProtocol.HTTPS else proxy.protocol.value
    auth = format_auth(proxy.username or "", proxy.password or "")
    return f"{ptype} {auth + '@' if auth else ''}{proxy.host}:{proxy.port}"


TOOLS: dict[str, type[Tool]] = {"proxyfleet": Proxyfleet, "proxyscraper": Proxyscraper}


# --- the driver --------------------------------------------------------------------------------

def compare(size: int, rounds: int, judge_host: str, knobs: tuple[int, float, str],
            whole_process: bool = False) -> list[Turn]:
    """`rounds` turns per tool, alternating, against one farm process. In process: each turn
    a forked process whose set-up is untimed; whole process: each turn a command, timed from
    start to exit."""
    context = multiprocessing.get_context("fork")
    farm_end, farm = context.Pipe()
    server = context.Process(target=farm_process, args=(size, judge_host, farm_end, knobs[2]),
                             daemon=True)
    server.start()
    world: World = farm.recv()
    turns = []
    try:
        with tempfile.TemporaryDirectory(prefix="check-compare-") as folder:
            commands = _whole_commands(world, Path(folder), knobs[0]) if whole_process else {}
            for _ in range(rounds):
                for tool in TOOLS:
                    farm.send("fresh")
                    farm_cpu = farm.recv()
                    turns.append(_whole_turn(tool, commands[tool], world, knobs[1])
                                 if whole_process else _take_turn(context, tool, world, knobs))
                    farm.send("cpu")
                    turns[-1].farm_cpu_s = farm.recv() - farm_cpu
                    print(_line(turns[-1].row()), flush=True)
    finally:
        farm.send("stop")
        server.join(10)
    return turns


def _take_turn(context: Any, tool: str, world: World, knobs: tuple[int, float, str]) -> Turn:
    turn_end, ours = context.Pipe()
    checker = context.Process(target=turn_process, args=(tool, world, knobs, turn_end))
    checker.start()
    turn: Turn = ours.recv()
    checker.join(10)
    return turn


# --- whole process: each turn is a command, from start to exit -----------------------------

def _whole_commands(world: World, folder: Path, concurrency: int
                    ) -> dict[str, tuple[list[str], Path]]:
    """Each tool's command line over the farm's proxies, and the JSON file it writes."""
    judge_url, (host, port), proxies = world
    ours, theirs = folder / "proxyfleet.txt", folder / "proxyscraper.txt"
    ours.write_text("".join(proxy.url(with_credentials=True) + "\n" for proxy, _ in proxies))
    theirs.write_text("".join(_scraper_key(proxy) + "\n" for proxy, _ in proxies))
    own_ip = asyncio.run(own_public_ip(judge_url))
    proxyfleet = str(Path(sys.executable).with_name("proxyfleet"))
    return {
        "proxyfleet": ([proxyfleet, "check", str(ours), "--judge", judge_url,
                        "--concurrency", str(concurrency), "--timeout", str(CHECK_TIMEOUT),
                        "--json", str(folder / "proxyfleet.json")], folder / "proxyfleet.json"),
        "proxyscraper": ([sys.executable, "-m", "bench.scraper_check", str(theirs), host,
                          str(port), own_ip, str(concurrency), str(CHECK_TIMEOUT),
                          str(folder / "proxyscraper.json")], folder / "proxyscraper.json"),
    }


def _whole_turn(tool: str, command: tuple[list[str], Path], world: World,
                limit_s: float) -> Turn:
    argv, out = command
    out.unlink(missing_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, check=True, timeout=limit_s, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[1],
                   env={**os.environ, "COLUMNS": "80"})
    turn = Turn(tool, wall_s=time.perf_counter() - started)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    turn.cpu_s = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    said = json.loads(out.read_text())
    for answer, (_, truth) in zip(said, world[2], strict=True):
        verdict = (Verdict(answer["alive"], answer["exit_ip"],
                           Anonymity(answer["anonymity"]) if answer["anonymity"] else None)
                   if tool == "proxyfleet" else _as_verdict(answer))
        turn.checks += 1
        turn.wrong += [f"{truth.protocol}/{truth.behaviour}: {w}"
                       for w in wrong_labels(verdict, truth)]
    return turn


HEADER = ["tool", "checked", "wall s", "checks/s", "CPU ms/check", "farm busy", "wrong labels"]


def _line(cells: list[str]) -> str:
    return "  ".join(cell.rjust(max(len(name), 12)) for cell, name in zip(cells, HEADER,
                                                                          strict=True))


def summary(turns: list[Turn]) -> list[str]:
    lines = [_ratio_line("best", max, turns), _ratio_line("median", statistics.median_low, turns),
             _paired_line(turns),
             "target: proxyfleet at least 2x proxyscraper's checks/s, with zero wrong labels"]
    for turn in turns:
        lines += [f"  {turn.tool} wrong: {wrong}" for wrong in sorted(set(turn.wrong))[:5]]
    return lines


def _ratio_line(name: str, pick: Callable[[list[float]], float], turns: list[Turn]) -> str:
    rate = {tool: pick([t.rate for t in turns if t.tool == tool]) for tool in TOOLS}
    ratio = rate["proxyfleet"] / rate["proxyscraper"]
    return (f"{name} turns: proxyfleet {rate['proxyfleet']:,.0f} checks/s, "
            f"proxyscraper {rate['proxyscraper']:,.0f} checks/s, ratio {ratio:.2f}x")


def _paired_line(turns: list[Turn]) -> str:
    rates: dict[str, list[float]] = {tool: [t.rate for t in turns if t.tool == tool]
                                     for tool in TOOLS}
    ratios = [ours / theirs for ours, theirs in zip(rates["proxyfleet"], rates["proxyscraper"],
                                                    strict=True)]
    listed = ", ".join(f"{ratio:.2f}" for ratio in ratios)
    return (f"round by round: ratio {statistics.median(ratios):.2f}x (median of {listed})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="turns per tool, alternating")
    parser.add_argument("--judge-host", default="127.0.0.3")
    parser.add_argument("--turn-timeout", type=float, default=120.0)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio",
                        help="the event loop of the farm and of both tools (in-process turns; "
                             "whole-process turns use each tool's own, uvloop for both)")
    parser.add_argument("--whole-process", action="store_true",
                        help="time each tool as a whole command, start to exit")
    args = parser.parse_args()
    require_loopback(args.judge_host)
    print(f"farm: FarmSpec.spread({args.size}); concurrency {args.concurrency}; "
          f"check timeout {CHECK_TIMEOUT:g} s; judges on {args.judge_host}; loop {args.loop}; "
          + ("whole process (start to exit)" if args.whole_process else "in process"))
    print(_line(HEADER), flush=True)
    turns = compare(args.size, args.rounds, args.judge_host,
                    (args.concurrency, args.turn_timeout, args.loop), args.whole_process)
    print("\n".join(summary(turns)))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
