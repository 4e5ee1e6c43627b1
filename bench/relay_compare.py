"""Relay comparison: proxyfleet's engine side by side with pproxy, tinyproxy, microsocks and
dante, and a direct connection, in one run over loopback. For every proxy and protocol it
can speak (HTTP forwarding, CONNECT, SOCKS5): small requests per second on kept-alive and on
new connections, and MB/s for one bulk stream, each with the CPU the proxy process spent on
it (per request, per GB: steadier than rates on a machine the client and origin share); then
the ratios issue 6 sets as targets, and our CPU per unit of work over pproxy's.

The engine and the origin run in processes of their own (`bench/relay.py` starts them, and
its measuring functions are reused here); pproxy runs as its CLI in a subprocess, on the same
kind of loop as the engine (see `PPROXY_ON`); the daemons are started as the daemon
tests start them (`tests/integration/daemons/`). Every figure is a fixed-length run
(--seconds). With `--rounds N` every proxy is measured N times, round after round (so a
passing disturbance touches one round of each, not all rounds of one), and each figure is
the median of its rounds; on a small shared machine single runs swing by a third. Each
target's verdict then reads the median of its rounds' own ratios (ours over theirs, measured
one after the other), which a drifting machine moves least; the ratio of the medians is
printed beside it.

For calibration, the bulk stream also goes through HAProxy in TCP mode with splice forced both
ways (a fixed-target relay in C, the kernel moving the bytes as ours does), when `haproxy` is
installed (Debian's package; `.ci/run` installs it): what a kernel relay reaches here.

The TCP congestion control shapes the bulk figures: under BBR (this kind of machine's
default) a sender paces itself, and on loopback a two-hop path through any relay is held
well below what one direct connection reaches, which no relay can help. `--tcp-cc cubic` runs
the whole comparison (every proxy, origin and client) in a private network namespace with
that congestion control, leaving the machine's own setting alone; the header says which
one a run used. Usage, from the repository root:

    .venv/bin/python -m bench.relay_compare [--seconds 2] [--rounds 3] [--loop asyncio|uvloop]
        [--tcp-cc cubic]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import enum
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.integration.daemons.processes import LISTEN, free_port, running
from tests.integration.daemons.test_dante import start_dante
from tests.integration.daemons.test_microsocks import start_microsocks
from tests.integration.daemons.test_tinyproxy import start_tinyproxy

from bench import relay
from bench.common import table
from bench.procstat import cpu_meter
from proxyfleet.wire.handshake import ClientHandshake
from proxyfleet.wire.http_connect import HttpConnectClient
from proxyfleet.wire.socks5_client import Socks5Client
from proxyfleet.wire.target import Target

ENGINE, PPROXY = "proxyfleet", "pproxy"
# pproxy's own CLI entry point on either loop. pproxy installs uvloop whenever it can import
# it, so plain asyncio needs uvloop hidden; and with uvloop 0.23 its `install()` leaves no
# current loop for pproxy's `get_event_loop()`, so the uvloop case sets one up beforehand.
PPROXY_MAIN = "from pproxy.server import main; sys.exit(main())"
PPROXY_ON = {
    "asyncio": "import sys; sys.modules['uvloop'] = None; " + PPROXY_MAIN,
    "uvloop": ("import asyncio, sys, uvloop; asyncio.set_event_loop_policy(uvloop."
               "EventLoopPolicy()); asyncio.set_event_loop(uvloop.new_event_loop()); "
               "uvloop.install = lambda: None; " + PPROXY_MAIN),
}
KEEP = b"GET /x HTTP/1.1\r\nHost: o\r\n\r\n"
CLOSE = b"GET /x HTTP/1.1\r\nHost: o\r\nConnection: close\r\n\r\n"


class Way(enum.Enum):
    """How the client reaches the origin."""

    DIRECT = "direct"
    FORWARD = "HTTP forward"
    CONNECT = "CONNECT"
    SOCKS5 = "SOCKS5"


TUNNELS: dict[Way, Callable[[Target], ClientHandshake]] = {
    Way.CONNECT: HttpConnectClient, Way.SOCKS5: Socks5Client}


@dataclass(frozen=True, slots=True)
class Route:
    proxy: str
    way: Way
    port: int


@dataclass(frozen=True, slots=True)
class Figures:
    kept_alive: float | None
    new_connections: float | None
    bulk: float | None
    # What the proxy process spent on them: µs of CPU per request, CPU seconds per GB.
    kept_alive_cpu: float | None = None
    new_connections_cpu: float | None = None
    bulk_cpu: float | None = None


# Small requests.

async def _tunnel_kept_alive(port: int, make: Callable[[Target], ClientHandshake],
                             origin: Target, deadline: float) -> int:
    reader, writer = await relay._handshake(port, make(origin))
    count = 0
    while time.perf_counter() < deadline:
        await relay._get(reader, writer, KEEP)
        count += 1
    writer.close()
    return count


async def _tunnel_new_connections(port: int, make: Callable[[Target], ClientHandshake],
                                  origin: Target, deadline: float) -> int:
    count = 0
    while time.perf_counter() < deadline:
        reader, writer = await relay._handshake(port, make(origin))
        await relay._get(reader, writer, CLOSE)
        writer.close()
        count += 1
    return count


async def tunnel_rps(route: Route, origin: int, keep_alive: bool, seconds: float) -> float:
    """`relay.rps` for tunnels: each worker opens its tunnel(s) with the route's handshake."""
    worker = _tunnel_kept_alive if keep_alive else _tunnel_new_connections
    target = Target(LISTEN, origin)
    deadline = time.perf_counter() + seconds
    async with asyncio.timeout(seconds + 30):
        counts = await asyncio.gather(*(worker(route.port, TUNNELS[route.way], target, deadline)
                                        for _ in range(relay.CONCURRENCY)))
    return sum(counts) / seconds


async def small_rps(route: Route, origin: int, keep_alive: bool, seconds: float) -> float:
    if route.way is Way.DIRECT:
        return await relay.rps(origin, KEEP if keep_alive else CLOSE, keep_alive, seconds)
    if route.way is Way.FORWARD:
        url = f"http://{LISTEN}:{origin}/x"
        close = b"" if keep_alive else b"Connection: close\r\n"
        request = f"GET {url} HTTP/1.1\r\nHost: o\r\n".encode() + close + b"\r\n"
        return await relay.rps(route.port, request, keep_alive, seconds)
    return await tunnel_rps(route, origin, keep_alive, seconds)


# One bulk stream.

async def bulk_mbps(route: Route, seconds: float) -> float | None:
    if route.way is Way.FORWARD:
        return None  # a forwarded request carries no stream of its own
    loop = asyncio.get_running_loop()
    done: asyncio.Future[tuple[int, float]] = loop.create_future()
    sink = await loop.create_server(relay._sink_factory(done), LISTEN, 0)
    sink_port = int(sink.sockets[0].getsockname()[1])
    try:
        if route.way is Way.DIRECT:
            return await relay.bulk(sink_port, None, sink_port, done, seconds)
        return await relay.bulk(route.port, TUNNELS[route.way], sink_port, done, seconds)
    finally:
        sink.close()


async def _cell(measure: Awaitable[float | None]) -> float | None:
    """One figure; a proxy that fails a measurement gets a blank, not the end of the run."""
    try:
        return await measure
    except (OSError, asyncio.IncompleteReadError, EOFError) as exc:
        print(f"  (failed: {exc!r})", file=sys.stderr)
        return None


async def measure(route: Route, origin: int, seconds: float) -> Figures:
    print(f"measuring {route.proxy}, {route.way.value} …", file=sys.stderr)
    meter = None if route.way is Way.DIRECT else cpu_meter(route.port)
    kept, kept_cpu = await _metered(meter, small_rps(route, origin, True, seconds))
    new, new_cpu = await _metered(meter, small_rps(route, origin, False, seconds))
    started = time.perf_counter()
    bulk, bulk_cpu = await _metered(meter, bulk_mbps(route, seconds))
    elapsed = time.perf_counter() - started
    return Figures(kept, new, bulk,
                   _per(kept_cpu, kept and kept * seconds / 1e6),
                   _per(new_cpu, new and new * seconds / 1e6),
                   _per(bulk_cpu, bulk and bulk * elapsed / 1e3))


async def _metered(meter: Callable[[], float] | None, figure: Awaitable[float | None],
                   ) -> tuple[float | None, float | None]:
    """A figure and the CPU seconds the proxy used while it was taken."""
    before = meter() if meter else 0.0
    found = await _cell(figure)
    return found, (meter() - before) if meter else None


def _per(cpu_seconds: float | None, amount: float | None) -> float | None:
    return None if cpu_seconds is None or not amount else cpu_seconds / amount


# The proxies under test.

def routes(ports: dict[str, int]) -> list[Route]:
    ways_of = {
        ENGINE: (Way.FORWARD, Way.CONNECT, Way.SOCKS5),
        PPROXY: (Way.FORWARD, Way.CONNECT, Way.SOCKS5),
        "tinyproxy": (Way.FORWARD, Way.CONNECT),
        "microsocks": (Way.SOCKS5,),
        "dante": (Way.SOCKS5,),
    }
    found = [Route("direct", Way.DIRECT, 0)]
    for way in (Way.FORWARD, Way.CONNECT, Way.SOCKS5):
        found += [Route(proxy, way, ports[proxy]) for proxy, ways in ways_of.items()
                  if way in ways]
    return found


HAPROXY = "/usr/sbin/haproxy"
HAPROXY_CONFIG = """global
    maxconn 64
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    option splice-request
    option splice-response
listen relay
    bind {listen}:{port}
    server sink {listen}:{target}
"""


def start_haproxy(stack: contextlib.ExitStack, folder: Path, target: int) -> int | None:
    """HAProxy relaying to `target`, or None when it is not installed."""
    if not Path(HAPROXY).exists():
        return None
    port = free_port()
    config = folder / "haproxy.cfg"
    config.write_text(HAPROXY_CONFIG.format(listen=LISTEN, port=port, target=target))
    stack.enter_context(running([HAPROXY, "-f", str(config), "-db"], port,
                                folder / "haproxy.log"))
    return port


async def haproxy_bulk(port: int, target: int, seconds: float) -> float:
    """MB/s of one bulk stream through HAProxy to a sink on its fixed target port."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[tuple[int, float]] = loop.create_future()
    sink = await loop.create_server(relay._sink_factory(done), LISTEN, target)
    try:
        return await relay.bulk(port, None, target, done, seconds)
    finally:
        sink.close()
        await sink.wait_closed()


def start_pproxy(stack: contextlib.ExitStack, folder: Path, loop: str) -> int:
    port = free_port()
    argv = [sys.executable, "-c", PPROXY_ON[loop], "-l", f"http+socks5://{LISTEN}:{port}"]
    stack.enter_context(running(argv, port, folder / "pproxy.log"))
    return port


@contextlib.contextmanager
def proxies(loop: str) -> Iterator[tuple[dict[str, int], int]]:
    """Every proxy under test, running; their ports by name, and the origin's port."""
    engine, origin = relay._start("engine", loop), relay._start("origin", loop)
    with tempfile.TemporaryDirectory() as scratch, contextlib.ExitStack() as stack:
        folder = Path(scratch)
        try:
            yield {ENGINE: engine.port, PPROXY: start_pproxy(stack, folder, loop),
                   "tinyproxy": start_tinyproxy(stack, folder, "MaxClients 64"),
                   "microsocks": start_microsocks(stack, folder),
                   "dante": start_dante(stack, folder)}, origin.port
        finally:
            for child in (engine, origin):
                child.process.terminate()


# The report.

def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def figures_table(results: dict[Route, Figures]) -> str:
    rows = [["proxy", "protocol", "kept-alive req/s", "new-conn req/s", "bulk MB/s",
             "CPU µs/kept req", "CPU µs/new req", "CPU s/GB"]]
    rows += [[route.proxy, route.way.value, _number(found.kept_alive),
              _number(found.new_connections), _number(found.bulk),
              _number(found.kept_alive_cpu), _number(found.new_connections_cpu),
              _decimal(found.bulk_cpu)]
             for route, found in results.items()]
    return table(rows)


def _decimal(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def cpu_table(results: dict[Route, Figures]) -> str:
    """Our proxy's CPU per request and per byte over pproxy's (below 1: cheaper)."""
    rows = [["CPU per unit of work", "engine / pproxy"]]
    for way in (Way.FORWARD, Way.CONNECT, Way.SOCKS5):
        engine, pproxy = _find(results, ENGINE, way), _find(results, PPROXY, way)
        for name, ours, theirs in (
                ("kept-alive request", engine.kept_alive_cpu, pproxy.kept_alive_cpu),
                ("new-connection request", engine.new_connections_cpu,
                 pproxy.new_connections_cpu),
                ("bulk byte", engine.bulk_cpu, pproxy.bulk_cpu)):
            ratio = _ratio(ours, theirs)
            if ratio is not None:
                rows.append([f"{way.value}, {name}", f"{ratio:.2f}"])
    return table(rows)


def _ratio(ours: float | None, theirs: float | None) -> float | None:
    return None if ours is None or not theirs else ours / theirs


def _find(results: dict[Route, Figures], proxy: str, way: Way) -> Figures:
    return next(found for route, found in results.items()
                if route.proxy == proxy and route.way is way)


Comparison = tuple[str, str, float | None, float | None]
"""What a target compares: its name, its goal, our figure, the figure it is measured by."""


def comparisons(results: dict[Route, Figures]) -> list[Comparison]:
    direct = _find(results, "direct", Way.DIRECT).bulk
    dante = _find(results, "dante", Way.SOCKS5).bulk
    found: list[Comparison] = []
    for way in (Way.CONNECT, Way.SOCKS5):
        ours = _find(results, ENGINE, way).bulk
        found.append((f"bulk, {way.value}: engine / direct", ">= 0.5", ours, direct))
        found.append((f"bulk, {way.value}: engine / dante", "> 1", ours, dante))
    for way in (Way.FORWARD, Way.CONNECT, Way.SOCKS5):
        engine, pproxy = _find(results, ENGINE, way), _find(results, PPROXY, way)
        found.append((f"kept-alive, {way.value}: engine / pproxy", ">= 1",
                      engine.kept_alive, pproxy.kept_alive))
        found.append((f"new conns, {way.value}: engine / pproxy", ">= 1",
                      engine.new_connections, pproxy.new_connections))
    return found


def calibration(haproxy: float | None, direct: float | None) -> str:
    if haproxy is None:
        return ("calibration: no figure through HAProxy (not installed? apt-get install "
                "haproxy)")
    ratio = _ratio(haproxy, direct)
    share = "" if ratio is None else f", {ratio:.2f} of direct"
    return (f"calibration: one bulk stream through HAProxy (TCP mode, splice both ways, fixed "
            f"target): {haproxy:,.0f} MB/s{share}")


def verdict(comparison: Comparison, paired: float | None = None) -> list[str]:
    """A target's row: the ratio of the medians, the median of the rounds' own ratios (when
    there are rounds), and the verdict, on the paired figure when there is one."""
    name, goal, ours, theirs = comparison
    ratio = _ratio(ours, theirs)
    decisive = ratio if paired is None else paired
    if decisive is None:
        return [name, goal, "—", "—", "no figure"]
    floor = float(goal.split()[-1])
    met = decisive > floor if goal.startswith(">") else decisive >= floor
    return [name, goal, _decimal(ratio), _decimal(paired), "met" if met else "MISSED"]


def paired_ratios(measured: dict[Route, list[Figures]]) -> list[float | None]:
    """For each target of `comparisons`, the median of its ratio taken round by round. The
    two figures of a round's ratio are measured one after the other (the routes run in
    order, ours just before pproxy's), so a machine that speeds up or slows down between
    rounds, as small shared ones do by a third, moves both alike; the ratio of two medians
    can pair a fast round of one with a slow round of the other."""
    rounds = min(len(figures) for figures in measured.values())
    per_round = [comparisons({route: figures[turn] for route, figures in measured.items()})
                 for turn in range(rounds)]
    paired: list[float | None] = []
    for target in range(len(per_round[0]) if per_round else 0):
        found = [ratio for turn in per_round
                 if (ratio := _ratio(turn[target][2], turn[target][3])) is not None]
        paired.append(statistics.median(found) if found else None)
    return paired


def median_figures(rounds: list[Figures]) -> Figures:
    """Each figure's median over the rounds that produced it."""
    def middle(values: list[float | None]) -> float | None:
        found = [value for value in values if value is not None]
        return statistics.median(found) if found else None

    return Figures(*(middle([getattr(one, field.name) for one in rounds])
                     for field in dataclasses.fields(Figures)))


async def main(seconds: float, rounds: int, loop_kind: str) -> None:
    target = free_port()
    with proxies(loop_kind) as (ports, origin), tempfile.TemporaryDirectory() as scratch, \
            contextlib.ExitStack() as stack:
        haproxy = start_haproxy(stack, Path(scratch), target)
        measured: dict[Route, list[Figures]] = {route: [] for route in routes(ports)}
        through_haproxy: list[float] = []
        for turn in range(rounds):
            if rounds > 1:
                print(f"round {turn + 1} of {rounds}", file=sys.stderr)
            for route, figures in measured.items():
                figures.append(await measure(route, origin, seconds))
            if haproxy is not None:
                print("measuring haproxy, TCP relay …", file=sys.stderr)
                found = await _cell(haproxy_bulk(haproxy, target, seconds))
                through_haproxy += [] if found is None else [found]
    reference = statistics.median(through_haproxy) if through_haproxy else None
    results = {route: median_figures(figures) for route, figures in measured.items()}
    median = f", medians of {rounds} rounds" if rounds > 1 else ""
    print(f"proxies and origin on {loop_kind}; {seconds:g} s per figure{median}; "
          f"{relay.CONCURRENCY} concurrent clients for requests; TCP congestion control "
          f"{congestion_control()}\n")
    print(figures_table(results))
    print("— : no figure (tinyproxy closes the client connection after each forwarded "
          "response;\n    a forwarded request carries no stream of its own)\n")
    print(calibration(reference, _find(results, "direct", Way.DIRECT).bulk) + "\n")
    paired = paired_ratios(measured) if rounds > 1 else [None] * len(comparisons(results))
    verdicts = [verdict(comparison, pair)
                for comparison, pair in zip(comparisons(results), paired, strict=True)]
    print(table([["target", "goal", "ratio of medians", "round by round", "verdict"],
                 *verdicts]))
    if rounds > 1:
        print("round by round: the median of the rounds' own ratios, which the verdict "
              "reads\n")
    print()
    print(cpu_table(results))


CC_SETTING = "/proc/sys/net/ipv4/tcp_congestion_control"
_IN_NAMESPACE = "PROXYFLEET_BENCH_NETNS"


def congestion_control() -> str:
    name = Path(CC_SETTING).read_text().strip()
    return f"{name} (private network namespace)" if os.environ.get(_IN_NAMESPACE) else name


def rerun_in_namespace(tcp_cc: str) -> None:
    """Run this same command again in a new network namespace (loopback up, `tcp_cc` as its
    congestion control) and exit with its status."""
    inner = (f"ip link set lo up && echo {tcp_cc} > {CC_SETTING} && exec "
             + " ".join(f"'{arg}'" for arg in [sys.executable, "-m", "bench.relay_compare",
                                                *sys.argv[1:]]))
    # Root may make a namespace outright; anyone else through a user namespace.
    unshare = ["unshare", "--net"] if os.geteuid() == 0 else [
        "unshare", "--user", "--map-root-user", "--net"]
    environment = {**os.environ, _IN_NAMESPACE: "1"}
    sys.exit(subprocess.run([*unshare, "sh", "-c", inner], env=environment).returncode)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--tcp-cc", help="congestion control for a run in its own namespace")
    arguments = parser.parse_args()
    if arguments.tcp_cc and not os.environ.get(_IN_NAMESPACE):
        rerun_in_namespace(arguments.tcp_cc)
    relay._use_loop(arguments.loop)  # the clients run on the same kind of loop as the servers
    asyncio.run(main(arguments.seconds, max(1, arguments.rounds), arguments.loop))
