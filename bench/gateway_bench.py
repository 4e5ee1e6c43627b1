"""Rotating gateway benchmark: requests per second and p50/p99 latency through proxyfleet's
gateway over a simulated pool (`sim/farm.py`, half HTTP and half SOCKS5 proxies), side by
side in the same run with proxy-scraper-cli's rotating server (round-robin) and pproxy
(`-s rr`) over the same pool; then memory per idle client tunnel of each.

For each rotator and each way in (HTTP forwarding, CONNECT, SOCKS5): small requests to a
loopback origin on a new connection per request (a fresh exit each time), and kept alive
(forwarding: one client connection, the gateway still picks an exit per request; tunnels:
one tunnel, many requests through it). Every rotator, the farm and the origin run in
processes of their own; the clients run here. Ours requires its login (an API key, verified
through the principal cache); the others run without one, as they do on loopback.

Usage, from the repository root (wrap it in `flock /tmp/bench.lock` on a shared machine):

    .venv/bin/python -m bench.gateway_bench [--pool 1000] [--seconds 2] [--concurrency 16]
        [--idle-tunnels 400] [--user-caps] [--redis redis://127.0.0.1:6379/0]

`--user-caps` keeps the per-user caps on (set far above what the run reaches, so they cost
their checks and refuse nothing); `--redis` gives our gateway a Redis, where those caps are
then kept.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from tests.integration.daemons.processes import accepts, free_port

from bench import relay
from bench.common import percentile, table
from bench.procstat import cpu_meter, cpu_seconds, listener_pid
from proxyfleet.core.proxies import ProxyProtocol
from proxyfleet.sim.farm import Behaviour, Farm, FarmSpec

OURS, SCRAPER, PPROXY = "proxyfleet", "proxy-scraper-cli", "pproxy"
WAYS = ("forward", "connect", "socks5")
SECRET = "bench-secret-not-for-production"
Proxies = list[tuple[str, int, str]]


# --- the processes under test ------------------------------------------------------------

def _farm_process(size: int, report: Connection) -> None:
    import uvloop

    async def run() -> None:
        http = size // 2
        spec = FarmSpec(counts={(ProxyProtocol.HTTP, Behaviour.ELITE): http,
                                (ProxyProtocol.SOCKS5, Behaviour.ELITE): size - http},
                        io_timeout=120.0)
        async with Farm(spec) as farm:
            report.send([(m.address.host, m.address.port, m.address.protocol.value)
                         for m in farm.members])
            await asyncio.Event().wait()

    uvloop.run(run())


def _scraper_process(proxies: Proxies, report: Connection) -> None:
    import uvloop
    from proxyscraper.checker import CheckResult
    from proxyscraper.server.core import RotatingServer
    from proxyscraper.server.pool import ProxyPool

    async def run() -> None:
        results = [CheckResult(key=f"{kind}://{host}:{port}", ptype=kind,
                               proxy=f"{host}:{port}", latency=20, exit_ip=host, https=True)
                   for host, port, kind in proxies]
        server = RotatingServer(ProxyPool(results, strategy="round-robin"), port=0,
                                max_clients=20_000)
        await server.start()
        report.send(server.port)
        await asyncio.Event().wait()

    uvloop.run(run())


def _child(target: Callable[..., None], *args: object) -> tuple[multiprocessing.Process, object]:
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=target, args=(*args, theirs), daemon=True)
    process.start()
    if not ours.poll(120):
        raise RuntimeError(f"{target.__name__} did not start")
    return process, ours.recv()  # type: ignore[return-value]


async def _seed(url: str, folder: Path, proxies: Proxies) -> str:
    """A database with the farm as healthy shared proxies, and a user; the user's API key."""
    from sqlalchemy import update

    from proxyfleet import bootstrap
    from proxyfleet.core.clock import utcnow
    from proxyfleet.core.proxies import ProxyAddress, ProxyOrigin
    from proxyfleet.settings import Settings
    from proxyfleet.storage.tables import ProxyRow

    settings = Settings(database_url=url, secret_key=SECRET, data_dir=folder)
    container = bootstrap.build(settings)
    await container.start()
    try:
        await container.inventory.add([ProxyAddress(h, p, ProxyProtocol(k))
                                       for h, p, k in proxies], ProxyOrigin.MANUAL)
        async with container.database.engines.writer.begin() as conn:
            await conn.execute(update(ProxyRow).values(
                status="active", score=0.9, uptime_pct=100.0, avg_latency_ms=20.0,
                anonymity="elite", country="US", health_window="1" * 10,
                last_checked_at=utcnow(), last_alive_at=utcnow()))
        _, issued = await container.accounts.register("bench@example.com", "Bench")
        return issued.raw
    finally:
        await container.close()


@contextlib.contextmanager
def _gateway(proxies: Proxies, folder: Path, user_caps: bool = False,
             redis_url: str | None = None) -> Iterator[tuple[int, str]]:
    """`proxyfleet gateway` on a fresh SQLite database holding the pool; its port and a key.
    Without `user_caps` the per-user caps are off."""
    url = f"sqlite:///{folder / 'bench.db'}"
    key = asyncio.run(_seed(url, folder, proxies))
    port = free_port()
    env = os.environ | {
        "PROXYFLEET_DATABASE_URL": url, "PROXYFLEET_SECRET_KEY": SECRET,
        "PROXYFLEET_DATA_DIR": str(folder), "PROXYFLEET_GATEWAY_PORT": str(port),
        "PROXYFLEET_LOG_LEVEL": "warning", "PROXYFLEET_GATEWAY_MAX_CONNECTIONS": "20000",
        "PROXYFLEET_GATEWAY_USER_MAX_CONNECTIONS": "1000000" if user_caps else "0",
        "PROXYFLEET_GATEWAY_USER_REQUESTS_PER_MINUTE": "1000000000" if user_caps else "0"}
    if redis_url:
        env |= {"PROXYFLEET_REDIS_URL": redis_url,
                "PROXYFLEET_REDIS_PREFIX": f"pfbench:{os.getpid()}:"}
    with _listening([sys.executable, "-m", "proxyfleet", "gateway"], port,
                    folder / "gateway.log", env):
        yield port, key


@contextlib.contextmanager
def _listening(argv: list[str], port: int, log_path: Path,
               env: dict[str, str] | None = None) -> Iterator[None]:
    """`argv` running until the block ends, once it listens on `port`."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not accepts(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log_path.read_text()[-2000:])
            time.sleep(0.05)
        yield
    finally:
        process.terminate()
        process.wait(10)


@contextlib.contextmanager
def _pproxy(proxies: Proxies, folder: Path) -> Iterator[int]:
    port = free_port()
    remotes = [arg for host, p, kind in proxies for arg in ("-r", f"{kind}://{host}:{p}")]
    argv = [sys.executable, "-c", relay_compare_pproxy(), "-l",
            f"http+socks5://127.0.0.1:{port}", *remotes, "-s", "rr"]
    with _listening(argv, port, folder / "pproxy.log"):
        yield port


def relay_compare_pproxy() -> str:
    from bench.relay_compare import PPROXY_ON

    return PPROXY_ON["uvloop"]


# --- the clients ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Rotator:
    name: str
    port: int
    login: tuple[str, str] | None

    def basic(self) -> bytes:
        if self.login is None:
            return b""
        token = base64.b64encode(f"{self.login[0]}:{self.login[1]}".encode()).decode()
        return f"Proxy-Authorization: Basic {token}\r\n".encode()

    def socks_greeting(self) -> bytes:
        if self.login is None:
            return b"\x05\x01\x00"
        return b"\x05\x01\x02"

    def socks_login(self) -> bytes:
        assert self.login is not None
        user, secret = (part.encode() for part in self.login)
        return bytes([1, len(user)]) + user + bytes([len(secret)]) + secret


async def _response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    await reader.readexactly(length)
    return status


async def _open(rotator: Rotator, way: str, origin: int,
                ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to the rotator, with a tunnel to the origin open for CONNECT and SOCKS5."""
    reader, writer = await asyncio.open_connection("127.0.0.1", rotator.port)
    if way == "connect":
        writer.write(f"CONNECT 127.0.0.1:{origin} HTTP/1.1\r\nHost: o\r\n".encode()
                     + rotator.basic() + b"\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        if head[9:12] != b"200":
            raise ConnectionError(head[:40])
    elif way == "socks5":
        writer.write(rotator.socks_greeting())
        chosen = await reader.readexactly(2)
        if chosen[1] == 2:
            writer.write(rotator.socks_login())
            if (await reader.readexactly(2))[1] != 0:
                raise ConnectionError("login refused")
        writer.write(b"\x05\x01\x00\x01\x7f\x00\x00\x01" + origin.to_bytes(2, "big"))
        reply = await reader.readexactly(10)
        if reply[1] != 0:
            raise ConnectionError(f"SOCKS5 reply {reply[1]}")
    return reader, writer


def _request(rotator: Rotator, way: str, origin: int) -> bytes:
    if way == "forward":
        return (f"GET http://127.0.0.1:{origin}/x HTTP/1.1\r\nHost: o\r\n".encode()
                + rotator.basic() + b"\r\n")
    return b"GET /x HTTP/1.1\r\nHost: o\r\n\r\n"


class _Tally:
    """Latencies of the requests answered 200, and a count of the rest."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0

    async def time(self, exchange: Awaitable[int]) -> bool:
        started = time.perf_counter()
        try:
            ok = await exchange == 200
        except (OSError, asyncio.IncompleteReadError, ValueError):
            ok = False
        if ok:
            self.latencies.append(time.perf_counter() - started)
        else:
            self.errors += 1
        return ok


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    request: bytes) -> int:
    writer.write(request)
    return await _response(reader)


async def _fresh_exchange(rotator: Rotator, way: str, origin: int, request: bytes) -> int:
    reader, writer = await _open(rotator, way, origin)
    try:
        return await _exchange(reader, writer, request)
    finally:
        writer.close()


async def _new_connections(rotator: Rotator, way: str, origin: int, deadline: float,
                           tally: _Tally) -> None:
    request = _request(rotator, way, origin)
    while time.perf_counter() < deadline:
        await tally.time(_fresh_exchange(rotator, way, origin, request))


async def _kept_alive(rotator: Rotator, way: str, origin: int, deadline: float,
                      tally: _Tally) -> None:
    request = _request(rotator, way, origin)
    reader, writer = await _open(rotator, way, origin)
    while time.perf_counter() < deadline:
        if not await tally.time(_exchange(reader, writer, request)):
            writer.close()
            reader, writer = await _open(rotator, way, origin)
    writer.close()


@dataclass
class Figure:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us: float
    """CPU the rotator's process spent per request (steadier than rates on a shared box)."""
    others_us: float = 0.0
    """CPU the rest of the bench spent per request: the farm, the origin and the clients."""

    @property
    def total_us(self) -> float:
        return self.cpu_us + self.others_us


@dataclass(frozen=True)
class Bench:
    """Where the rotators send their traffic, and the processes that serve it."""

    origin: int
    """The origin's port."""
    others: tuple[int, ...] = ()
    """The farm's and the origin's process ids (their CPU is counted with the clients')."""

    def others_cpu(self) -> float:
        return time.process_time() + sum(cpu_seconds(pid) for pid in self.others)


async def measure(rotator: Rotator, way: str, bench: Bench, keep_alive: bool,
                  seconds: float, concurrency: int) -> Figure:
    origin = bench.origin
    worker = _kept_alive if keep_alive else _new_connections
    tally = _Tally()
    meter = cpu_meter(rotator.port)
    spent, others = meter(), bench.others_cpu()
    deadline = time.perf_counter() + seconds
    async with asyncio.timeout(seconds + 60):
        await asyncio.gather(*(worker(rotator, way, origin, deadline, tally)
                               for _ in range(concurrency)), return_exceptions=True)
    spent, others = meter() - spent, bench.others_cpu() - others
    done = tally.latencies
    if not done:
        return Figure(0.0, 0.0, 0.0, tally.errors, 0.0)
    return Figure(len(done) / seconds, percentile(done, 50) * 1000,
                  percentile(done, 99) * 1000, tally.errors, spent / len(done) * 1e6,
                  others / len(done) * 1e6)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def idle_tunnel_kib(rotator: Rotator, origin: int, tunnels: int) -> float:
    """Resident memory the rotator's process gains per idle CONNECT tunnel it holds."""
    pid = listener_pid(rotator.port)
    await asyncio.sleep(0.5)
    before = _rss_kib(pid)
    held = []
    for _ in range(tunnels // 50):
        held += await asyncio.gather(*(_open(rotator, "connect", origin) for _ in range(50)))
    await asyncio.sleep(1.0)
    after = _rss_kib(pid)
    for _, writer in held:
        writer.close()
    await asyncio.sleep(1.0)
    return (after - before) / tunnels


# --- the run -------------------------------------------------------------------------------

async def run_all(rotators: list[Rotator], bench: Bench, seconds: float, concurrency: int,
                  idle_tunnels: int) -> tuple[dict[tuple[str, str, bool], Figure],
                                              dict[str, float]]:
    figures: dict[tuple[str, str, bool], Figure] = {}
    for way in WAYS:
        for keep_alive in (False, True):
            for rotator in rotators:  # side by side, one after the other per cell
                figures[rotator.name, way, keep_alive] = await measure(
                    rotator, way, bench, keep_alive, seconds, concurrency)
    memory = {r.name: await idle_tunnel_kib(r, bench.origin, idle_tunnels) for r in rotators}
    return figures, memory


def report(rotators: list[Rotator], figures: dict[tuple[str, str, bool], Figure],
           memory: dict[str, float]) -> str:
    rows = [["way", "connection", "rotator", "req/s", "p50 ms", "p99 ms", "errors",
             "CPU µs/req", "rest µs/req", "cores busy", "ours x req/s", "their CPU ÷ ours",
             "ceiling x"]]
    for (name, way, keep), figure in figures.items():
        ours = figures[OURS, way, keep]
        theirs = name != OURS
        rate = f"{ours.rps / figure.rps:.2f}" if theirs and figure.rps else ""
        cpu = f"{figure.cpu_us / ours.cpu_us:.2f}" if theirs and ours.cpu_us else ""
        ceiling = f"{figure.total_us / ours.others_us:.2f}" if theirs and ours.others_us else ""
        rows.append([way, "kept alive" if keep else "new each", name, f"{figure.rps:.0f}",
                     f"{figure.p50_ms:.1f}", f"{figure.p99_ms:.1f}", str(figure.errors),
                     f"{figure.cpu_us:.0f}", f"{figure.others_us:.0f}",
                     f"{figure.rps * figure.total_us / 1e6:.2f}", rate, cpu, ceiling])
    lines = [table(rows), "", CEILING, "",
             table([["rotator", "KiB per idle tunnel"]]
                   + [[n, f"{kib:.1f}"] for n, kib in memory.items()])]
    return "\n".join(lines)


CEILING = ("rest µs/req: CPU the farm, the origin and the clients spent per request. cores busy: "
           "CPU of the rotator and the rest per second of the cell. ceiling x: the most "
           "'ours x req/s' could be were our gateway to cost no CPU at all, when the machine's "
           "cores are the limit (cores busy near their number: rate in proportion to 1 / CPU "
           "per request): their CPU and the rest's in their cell, over the rest's in ours.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--idle-tunnels", type=int, default=400)
    parser.add_argument("--user-caps", action="store_true",
                        help="keep the per-user caps on (set out of reach)")
    parser.add_argument("--redis", default=None, help="a Redis URL for our gateway")
    options = parser.parse_args()
    farm, proxies = _child(_farm_process, options.pool)
    origin = relay._start("origin", "uvloop")
    scraper, scraper_port = _child(_scraper_process, proxies)
    try:
        with tempfile.TemporaryDirectory() as scratch, \
                _gateway(proxies, Path(scratch), options.user_caps,
                         options.redis) as (ours_port, key), \
                _pproxy(proxies, Path(scratch)) as pproxy_port:
            rotators = [Rotator(OURS, ours_port, ("user", key)),
                        Rotator(SCRAPER, int(scraper_port), None),  # type: ignore[call-overload]
                        Rotator(PPROXY, pproxy_port, None)]
            import uvloop

            bench = Bench(origin.port, (farm.pid, origin.process.pid))  # type: ignore[arg-type]
            figures, memory = uvloop.run(run_all(rotators, bench, options.seconds,
                                                 options.concurrency, options.idle_tunnels))
            print(f"pool: {options.pool} farm proxies (half HTTP, half SOCKS5); "
                  f"{options.concurrency} clients, {options.seconds:g} s per cell; "
                  f"user caps {'on' if options.user_caps else 'off'}, "
                  f"Redis {'on' if options.redis else 'off'}")
            print(report(rotators, figures, memory))
    finally:
        for process in (farm, scraper, origin.process):
            process.terminate()


if __name__ == "__main__":
    main()
