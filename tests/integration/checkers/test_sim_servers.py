"""The simulated judge and farm themselves: what the judge answers, how the farm is laid out,
and that its proxies behave as declared."""

from __future__ import annotations

import asyncio
import json
import resource

import pytest

from proxyfleet.core.proxies import Anonymity, ProxyProtocol
from proxyfleet.sim.farm import Behaviour, Farm, FarmSpec, build_proxy, every_kind
from proxyfleet.sim.judge import Judge


async def exchange(host: str, port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        async with asyncio.timeout(3):
            return await reader.read()
    finally:
        writer.close()


# --- the judge ----------------------------------------------------------------------------

async def test_the_judge_reports_the_peer_and_the_headers(judge: Judge) -> None:
    answer = await exchange(judge.host, judge.port,
                            b"GET /judge HTTP/1.1\r\nHost: j\r\nx-forwarded-for: 1.2.3.4\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Content-Type: application/json" in head
    assert json.loads(body) == {"origin": "127.0.0.1",
                                "headers": {"Host": "j", "X-Forwarded-For": "1.2.3.4"}}
    assert judge.served == 1


async def test_the_judge_sees_the_source_address(judge: Judge) -> None:
    reader, writer = await asyncio.open_connection(judge.host, judge.port,
                                                   local_addr=("127.9.8.7", 0))
    writer.write(b"GET /judge HTTP/1.1\r\nHost: j\r\n\r\n")
    body = (await asyncio.wait_for(reader.read(), 3)).partition(b"\r\n\r\n")[2]
    writer.close()
    assert json.loads(body)["origin"] == "127.9.8.7"


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /other HTTP/1.1\r\nHost: j\r\n\r\n", b"404"),
        (b"POST /judge HTTP/1.1\r\nHost: j\r\n\r\n", b"405"),
        (b"\x05\x01\x00garbage\r\n\r\n", b"400"),
        (b"GET /judge HTTP/1.1\r\nno colon\r\n\r\n", b"400"),
    ],
)
async def test_the_judge_answers_bad_requests_with_4xx(
    judge: Judge, request_bytes: bytes, status: bytes
) -> None:
    answer = await exchange(judge.host, judge.port, request_bytes)
    assert answer.split(b" ")[1] == status


async def test_a_judge_subclass_answers_its_own_paths() -> None:
    class Echo(Judge):
        def answer(self, method: str, target: str, peer_ip: str,
                   headers: list[tuple[str, str]]) -> bytes:
            return f"{method} {target} from {peer_ip}".encode()

    async with Echo() as echo:
        answer = await exchange(echo.host, echo.port, b"GET /ip HTTP/1.1\r\nHost: j\r\n\r\n")
        assert answer == b"GET /ip from 127.0.0.1"
        assert echo.served == 1


async def test_the_judge_cuts_off_a_client_that_never_ends_its_head() -> None:
    async with Judge(io_timeout=0.2) as judge:
        answer = await exchange(judge.host, judge.port, b"GET /judge HTTP/1.1\r\nHost: j\r\n")
        assert answer == b""
        assert judge.served == 0


async def test_the_judge_refuses_a_head_too_long_without_an_answer(judge: Judge) -> None:
    answer = await exchange(judge.host, judge.port,
                            b"GET /judge HTTP/1.1\r\nX-Pad: " + b"a" * 20_000 + b"\r\n\r\n")
    assert answer == b""


async def test_the_judge_url() -> None:
    async with Judge() as judge:
        assert judge.url == f"http://127.0.0.1:{judge.port}/judge"
    with pytest.raises(RuntimeError, match="not running"):
        _ = Judge().url


# --- the farm's layout --------------------------------------------------------------------

def test_tunnels_cannot_be_declared_anonymous() -> None:
    with pytest.raises(ValueError, match="cannot be anonymous"):
        FarmSpec(counts={(ProxyProtocol.SOCKS5, Behaviour.ANONYMOUS): 1})


@pytest.mark.parametrize(
    ("options", "words"),
    [({"counts": {(ProxyProtocol.HTTP, Behaviour.ELITE): -1}}, "negative"),
     ({"counts": {(ProxyProtocol.HTTP, Behaviour.ELITE): 70_000}}, "at most"),
     ({"counts": {}, "flaky_fraction": 0.0}, "flaky_fraction")],
)
def test_impossible_specs_are_refused(options: dict[str, object], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        FarmSpec(**options)  # type: ignore[arg-type]


def test_every_kind_is_25_kinds() -> None:
    assert len(every_kind()) == 4 * 7 - 3


@pytest.mark.parametrize("total", [0, 24, 25, 1000, 10_001])
def test_spread_hits_the_total(total: int) -> None:
    spec = FarmSpec.spread(total)
    assert spec.total == total
    assert max(spec.counts.values()) - min(spec.counts.values()) <= 1


@pytest.mark.parametrize(
    ("fraction", "pattern"),
    [(0.5, [True, False, True, False]), (0.25, [True, False, False, False, True]),
     (1.0, [True, True, True]), (0.1, [True] + [False] * 9 + [True])],
)
def test_flaky_drops_the_first_request_then_evenly(fraction: float, pattern: list[bool]) -> None:
    spec = FarmSpec(counts={}, flaky_fraction=fraction)
    proxy = build_proxy(spec, 0, (ProxyProtocol.HTTP, Behaviour.FLAKY), 8080)
    assert [proxy.next_request_fails() for _ in pattern] == pattern


async def test_the_farm_lays_proxies_out_on_their_own_addresses(farm: Farm) -> None:
    listed = farm.proxies
    hosts = [proxy.host for proxy, _ in listed]
    exits = [t.exit_ip for _, t in listed if t.exit_ip and t.exit_ip != "127.0.0.1"]
    assert len(set(hosts)) == len(hosts) == 75
    assert len(set(exits)) == len(exits)
    assert set(hosts).isdisjoint(exits)
    assert all(h.startswith("127.71.") for h in hosts)
    assert all(e.startswith("127.72.") for e in exits)


async def test_the_truth_follows_the_behaviour(farm: Farm) -> None:
    for proxy, truth in farm.proxies:
        assert truth.protocol is proxy.protocol
        assert (proxy.username is not None) == (truth.behaviour is Behaviour.AUTH)
        assert truth.alive == (truth.behaviour not in (Behaviour.DEAD, Behaviour.FLAKY))
        if truth.behaviour is Behaviour.TRANSPARENT:
            assert truth.anonymity is Anonymity.TRANSPARENT
            tunnel = proxy.protocol is not ProxyProtocol.HTTP
            assert (truth.exit_ip == "127.0.0.1") == tunnel


async def test_dead_proxies_have_nothing_listening(farm: Farm) -> None:
    for proxy, truth in farm.proxies:
        if truth.behaviour is Behaviour.DEAD:
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection(proxy.host, proxy.port)


async def test_the_farm_raises_its_descriptor_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
    try:
        async with Farm(FarmSpec.spread(30, listen_prefix="127.75", egress_prefix="127.76")):
            assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_a_stopped_farm_listens_no_more() -> None:
    async with Farm(FarmSpec.spread(25, listen_prefix="127.77", egress_prefix="127.78")) as farm:
        alive = next(p for p, t in farm.proxies if t.alive)
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(alive.host, alive.port)


async def test_bytes_sent_before_the_tunnel_is_up_reach_the_target(
    farm: Farm, judge: Judge
) -> None:
    # A client may send its request right behind the CONNECT, before the proxy's answer.
    proxy = next(p for p, t in farm.proxies
                 if t.protocol is ProxyProtocol.HTTPS and t.behaviour is Behaviour.ELITE)
    connect = f"CONNECT {judge.host}:{judge.port} HTTP/1.1\r\n\r\n".encode()
    get = b"GET /judge HTTP/1.1\r\nHost: j\r\nConnection: close\r\n\r\n"
    answer = await exchange(proxy.host, proxy.port, connect + get)
    established, _, rest = answer.partition(b"\r\n\r\n")
    assert established == b"HTTP/1.1 200 Connection established"
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n")
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["origin"].startswith("127.72.")


async def test_a_farm_connection_is_cut_after_its_io_timeout() -> None:
    spec = FarmSpec(counts={(ProxyProtocol.SOCKS5, Behaviour.ELITE): 1}, io_timeout=0.2,
                    listen_prefix="127.79", egress_prefix="127.80")
    async with Farm(spec) as farm:
        proxy = farm.proxies[0][0]
        answer = await exchange(proxy.host, proxy.port, b"\x05")  # half a greeting, then nothing
    assert answer == b""
