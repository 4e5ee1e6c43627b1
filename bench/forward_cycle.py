"""What one forwarded request costs the engine's Python, counted in instructions: a steady
figure on a machine whose timings swing by a third from run to run.

Two legs on stand-in transports (no sockets, no loop wake-ups: those cost the same for
every design and are measured by `bench.relay_compare`) carry N kept-alive exchanges, a
small GET and its two-byte answer, through the HTTP forwarder (`gateway/http_forward.py`),
and for comparison through the plain relay that tunnels use. The script runs itself under
valgrind's callgrind twice, with N and 10·N exchanges, and prints the difference per
exchange, so start-up costs cancel out. Usage, from the repository root (valgrind needed):

    .venv/bin/python -m bench.forward_cycle [--exchanges 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from proxyfleet.gateway.counters import TrafficCounters
from proxyfleet.gateway.http_forward import forward
from proxyfleet.gateway.leg import Leg, relay
from proxyfleet.wire.http_proxy import HttpProxyServer, ProxyRequest

REQUEST = b"GET http://127.0.0.1:40000/x HTTP/1.1\r\nHost: o\r\nAccept: */*\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


class _Transport:
    """Takes writes and counts their bytes; never full, never closing."""

    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def _legs() -> tuple[Leg, Leg, _Transport]:
    counters = TrafficCounters()
    client, upstream = Leg(counters.count_received), Leg(counters.count_sent)
    to_client = _Transport()
    client.connection_made(to_client)  # type: ignore[arg-type]
    upstream.connection_made(_Transport())  # type: ignore[arg-type]
    return client, upstream, to_client


async def _exchanges(way: str, count: int) -> None:
    client, upstream, to_client = _legs()
    if way == "forward":
        parser = HttpProxyServer()
        parser.receive_data(REQUEST)
        first = parser.next_event()
        assert isinstance(first, ProxyRequest)
        target = first.target
        running = asyncio.ensure_future(forward(
            client, upstream, parser, first, continues=lambda r: r.target == target,
            idle_timeout=300, head_timeout=10, counters=TrafficCounters()))
    else:
        running = asyncio.ensure_future(relay(client, upstream, 300))
        client.data_received(REQUEST)
    await asyncio.sleep(0)
    upstream.data_received(RESPONSE)
    for _ in range(count):
        client.data_received(REQUEST)
        upstream.data_received(RESPONSE)
    if to_client.written != (count + 1) * len(RESPONSE) or running.done():
        raise SystemExit(f"{way}: the exchanges did not all go through")
    running.cancel()


def _instructions(way: str, count: int, scratch: Path) -> int:
    out = scratch / f"callgrind.{way}.{count}"
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
               sys.executable, "-m", "bench.forward_cycle", "--run", way, str(count)]
    finished = subprocess.run(command, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", finished.stderr)
    if found is None:
        raise SystemExit(f"callgrind printed no count:\n{finished.stderr[-2000:]}")
    return int(found[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exchanges", type=int, default=2000)
    parser.add_argument("--run", nargs=2, metavar=("WAY", "COUNT"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.run:
        way, count = arguments.run
        asyncio.run(_exchanges(way, int(count)))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    few, many = arguments.exchanges, 10 * arguments.exchanges
    print(f"instructions per kept-alive exchange (callgrind, {many:,} - {few:,} exchanges)")
    with tempfile.TemporaryDirectory() as scratch:
        for way, label in (("forward", "HTTP forward"), ("relay", "tunnel relay")):
            cost = (_instructions(way, many, Path(scratch))
                    - _instructions(way, few, Path(scratch))) / (many - few)
            print(f"  {label:13s} {cost:9,.0f}")


if __name__ == "__main__":
    main()
