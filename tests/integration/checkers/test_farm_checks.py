"""The built-in checkers against the simulated farm and judge on loopback: every label right."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import pytest

from proxyfleet.core.proxies import Anonymity, ProxyAddress, ProxyProtocol
from proxyfleet.pool.checkers import CheckContext, Pipeline, PipelineResult, own_public_ip
from proxyfleet.pool.checkers.protocol import HttpsCheck
from proxyfleet.sim.farm import Behaviour, Farm, FarmSpec, ProxyTruth
from proxyfleet.sim.judge import Judge, response
from tests.integration.checkers.conftest import SLOW_DELAY


def mislabels(result: PipelineResult, truth: ProxyTruth) -> list[str]:
    """Every way the pipeline's verdict on one proxy differs from the farm's truth."""
    wrong = []
    if result.alive != truth.alive:
        wrong.append(f"alive {result.alive} != {truth.alive} ({result.detail})")
    if result.alive:
        found = result.findings
        expected = (truth.protocol, truth.anonymity, truth.exit_ip)
        if (found.protocol, found.anonymity, found.exit_ip) != expected:
            wrong.append(f"found {found} != {expected}")
    return [f"{result.proxy.url()} [{truth.behaviour}]: {w}" for w in wrong]


async def check_farm(
    farm: Farm, pipeline: Pipeline, ctx: CheckContext, concurrency: int = 25
) -> list[tuple[PipelineResult, ProxyTruth]]:
    truths = {proxy.key: truth for proxy, truth in farm.proxies}
    results = pipeline.check_many([proxy for proxy, _ in farm.proxies], ctx, concurrency)
    return [(result, truths[result.proxy.key]) async for result in results]


async def test_own_public_ip_is_what_the_judge_sees(judge: Judge) -> None:
    assert await own_public_ip(judge.url) == "127.0.0.1"


async def test_every_proxy_is_labelled_as_the_farm_says(
    farm: Farm, pipeline: Pipeline, ctx: CheckContext
) -> None:
    checked = await check_farm(farm, pipeline, ctx)
    assert len(checked) == len(farm.proxies) == 75
    assert [w for result, truth in checked for w in mislabels(result, truth)] == []
    kinds = {(truth.protocol, truth.anonymity) for _, truth in checked if truth.alive}
    assert len(kinds) == 4 * 2 + 1  # every protocol elite and transparent, HTTP also anonymous


async def test_a_big_farm_gets_zero_wrong_labels(pipeline: Pipeline, ctx: CheckContext) -> None:
    async with Farm(FarmSpec.spread(1000, slow_delay=0.05, listen_prefix="127.73",
                                    egress_prefix="127.74")) as farm:
        checked = await check_farm(farm, pipeline, ctx, concurrency=200)
    assert len(checked) == 1000
    assert [w for result, truth in checked for w in mislabels(result, truth)] == []


async def test_dead_ports_are_reported_dead(
    farm: Farm, pipeline: Pipeline, ctx: CheckContext
) -> None:
    dead = [proxy for proxy, truth in farm.proxies if truth.behaviour is Behaviour.DEAD]
    assert len(dead) == 12
    for proxy in dead:
        result = await pipeline.run(proxy, ctx)
        assert (result.alive, result.failed_stage) == (False, 1)
        assert result.records[-1].checker_name == "tcp_connect"
        assert result.detail == "connect failed: connection refused"


async def test_every_stage_leaves_a_record(
    farm: Farm, pipeline: Pipeline, ctx: CheckContext
) -> None:
    proxy = next(p for p, t in farm.proxies if t.protocol is ProxyProtocol.SOCKS5 and t.alive)
    result = await pipeline.run(proxy, ctx)
    assert [(r.checker_name, r.stage, r.passed) for r in result.records] == [
        ("tcp_connect", 1, True), ("socks5", 2, True), ("geoip", 3, True),
    ]
    assert result.records[-1].detail.startswith("no country for 127.72.")
    assert result.findings.country is None
    assert all(r.latency_ms is not None and r.latency_ms > 0 for r in result.records[:2])


async def test_flaky_proxies_fail_the_given_fraction(
    farm: Farm, pipeline: Pipeline, ctx: CheckContext
) -> None:
    flaky = [(p, t) for p, t in farm.proxies if t.behaviour is Behaviour.FLAKY]
    assert len(flaky) == 12
    for proxy, truth in flaky:
        verdicts = [(await pipeline.run(proxy, ctx)).alive for _ in range(4)]
        assert truth.flaky_fraction == 0.5
        assert verdicts == [False, True, False, True], proxy.url()


async def test_a_dropped_request_says_so(
    farm: Farm, pipeline: Pipeline, ctx: CheckContext
) -> None:
    proxy = next(p for p, t in farm.proxies if t.behaviour is Behaviour.FLAKY)
    result = await pipeline.run(proxy, ctx)
    assert result.failed_stage == 2
    assert result.detail.startswith("connection closed")


async def test_slow_proxies_are_measured_slow(
    farm: Farm, pipeline: Pipeline, ctx: CheckContext
) -> None:
    checked = await check_farm(farm, pipeline, ctx)
    slow = [r.latency_ms for r, t in checked if t.behaviour is Behaviour.SLOW]
    fast = [r.latency_ms for r, t in checked if t.behaviour is Behaviour.ELITE]
    assert len(slow) == 12
    # The farm holds every answer of a slow proxy back by SLOW_DELAY: a floor, whatever the
    # load. How fast the others come back depends on the machine, so it is only measured.
    assert all(ms is not None and ms >= SLOW_DELAY * 1000 for ms in slow)
    assert fast and all(ms is not None and ms > 0 for ms in fast)


def with_login(proxy: ProxyAddress, username: str | None, password: str | None) -> ProxyAddress:
    return replace(proxy, username=username, password=password)


WRONG_LOGIN = {
    ProxyProtocol.HTTP: "proxy authentication failed (HTTP 407)",
    ProxyProtocol.HTTPS: "proxy authentication failed (HTTP 407)",
    ProxyProtocol.SOCKS4: "SOCKS4 user id rejected (0x5d)",
    ProxyProtocol.SOCKS5: "SOCKS5 authentication failed (status 0x01)",
}
NO_LOGIN = {
    **WRONG_LOGIN,
    ProxyProtocol.SOCKS5: "SOCKS5 proxy accepts none of our methods (credentials needed?)",
}


@pytest.fixture
def locked(farm: Farm) -> dict[ProxyProtocol, ProxyAddress]:
    return {t.protocol: p for p, t in farm.proxies if t.behaviour is Behaviour.AUTH}


@pytest.mark.parametrize("protocol", list(ProxyProtocol))
async def test_the_right_password_opens_the_proxy(
    locked: dict[ProxyProtocol, ProxyAddress], pipeline: Pipeline, ctx: CheckContext,
    protocol: ProxyProtocol,
) -> None:
    result = await pipeline.run(locked[protocol], ctx)
    assert result.alive
    assert result.findings.anonymity is Anonymity.ELITE  # nothing leaked, not even our login


@pytest.mark.parametrize("protocol", list(ProxyProtocol))
async def test_a_wrong_password_fails_with_a_clear_detail(
    locked: dict[ProxyProtocol, ProxyAddress], pipeline: Pipeline, ctx: CheckContext,
    protocol: ProxyProtocol,
) -> None:
    proxy = locked[protocol]
    wrong = with_login(proxy, f"{proxy.username}-not", "wrong-password")
    result = await pipeline.run(wrong, ctx)
    assert (result.alive, result.failed_stage) == (False, 2)
    assert result.detail.startswith(WRONG_LOGIN[protocol])


@pytest.mark.parametrize("protocol", list(ProxyProtocol))
async def test_missing_credentials_fail_with_a_clear_detail(
    locked: dict[ProxyProtocol, ProxyAddress], pipeline: Pipeline, ctx: CheckContext,
    protocol: ProxyProtocol,
) -> None:
    result = await pipeline.run(with_login(locked[protocol], None, None), ctx)
    assert (result.alive, result.failed_stage) == (False, 2)
    assert result.detail.startswith(NO_LOGIN[protocol])


async def test_http_proxies_also_tunnel_with_connect(farm: Farm, ctx: CheckContext) -> None:
    http = [(p, t) for p, t in farm.proxies if t.protocol is ProxyProtocol.HTTP and t.alive]
    for proxy, truth in http:
        outcome = await HttpsCheck().check(proxy, ctx)
        assert outcome.passed, outcome.detail
        # Inside a tunnel the proxy cannot add headers: whatever it does to plain requests.
        assert outcome.findings.anonymity is Anonymity.ELITE
        assert outcome.findings.exit_ip == truth.exit_ip


@pytest.fixture
async def silent_proxy() -> AsyncIterator[ProxyAddress]:
    """Accepts connections and never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield ProxyAddress("127.0.0.1", server.sockets[0].getsockname()[1], ProxyProtocol.SOCKS5)
    for writer in held:
        writer.close()
    server.close()


async def test_a_silent_proxy_times_out_saying_where(
    silent_proxy: ProxyAddress, pipeline: Pipeline, ctx: CheckContext
) -> None:
    result = await pipeline.run(silent_proxy, ctx._replace(timeout=0.3))
    assert result.failed_stage == 2
    assert result.detail == "timed out after 0.3 s in the socks5 handshake"


@pytest.mark.parametrize(
    ("protocol", "detail"),
    [
        # An HTTP server waits for the end of a request head that SOCKS never sends.
        (ProxyProtocol.SOCKS5, "timed out after 0.5 s in the socks5 handshake"),
        (ProxyProtocol.SOCKS4, "timed out after 0.5 s in the socks4 handshake"),
        (ProxyProtocol.HTTPS, "proxy refused CONNECT: HTTP 404 Not Found"),
        (ProxyProtocol.HTTP, "judge request answered HTTP 404"),
    ],
)
async def test_something_that_is_no_proxy_fails_the_handshake(
    judge: Judge, pipeline: Pipeline, ctx: CheckContext, protocol: ProxyProtocol, detail: str
) -> None:
    # The judge itself, taken for a proxy: it speaks HTTP, and only about /judge.
    not_a_proxy = ProxyAddress(judge.host, judge.port, protocol)
    result = await pipeline.run(not_a_proxy, ctx._replace(timeout=0.5))
    assert result.failed_stage == 2
    assert result.detail.startswith(detail), result.detail


@pytest.fixture
async def hasty_proxy() -> AsyncIterator[ProxyAddress]:
    """A SOCKS5 proxy that answers the greeting with everything at once: the method choice,
    the connect reply and the judge's answer, as a proxy that pipelines might."""
    report = json.dumps({"origin": "127.0.0.5", "headers": {"Host": "j"}}).encode()
    answer = (b"\x05\x00" + b"\x05\x00\x00\x01" + bytes(6)
              + response(200, "OK", report, "application/json"))

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(3)
        writer.write(answer)
        await reader.read()  # until the checker, done, closes
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    yield ProxyAddress("127.0.0.1", server.sockets[0].getsockname()[1], ProxyProtocol.SOCKS5)
    server.close()


async def test_answers_that_arrive_together_are_read_in_turn(
    hasty_proxy: ProxyAddress, pipeline: Pipeline, ctx: CheckContext
) -> None:
    result = await pipeline.run(hasty_proxy, ctx)
    assert result.alive, result.detail
    assert result.findings.exit_ip == "127.0.0.5"
    assert result.findings.anonymity is Anonymity.ELITE


@pytest.fixture
def unanswered_port() -> Iterator[ProxyAddress]:
    """A port whose listener never accepts and whose backlog is full: connecting hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    queued = []
    for _ in range(8):  # Linux queues backlog + 1; the rest wait in SYN_SENT
        waiting = socket.socket()
        waiting.setblocking(False)
        waiting.connect_ex(address)
        queued.append(waiting)
    yield ProxyAddress("127.0.0.1", address[1], ProxyProtocol.SOCKS5)
    for waiting in queued:
        waiting.close()
    listener.close()


async def test_a_connect_that_hangs_times_out_saying_so(
    unanswered_port: ProxyAddress, pipeline: Pipeline, ctx: CheckContext
) -> None:
    result = await pipeline.run(unanswered_port, ctx._replace(timeout=0.3))
    assert result.failed_stage == 1
    assert result.detail == "connect timed out after 0.3 s"


async def test_cancelling_a_check_in_its_connect_cancels_it(
    unanswered_port: ProxyAddress, pipeline: Pipeline, ctx: CheckContext
) -> None:
    # The connect's own deadline must not turn someone else's cancellation into a verdict.
    check = asyncio.get_running_loop().create_task(pipeline.run(unanswered_port, ctx))
    await asyncio.sleep(0.1)
    check.cancel()
    with pytest.raises(asyncio.CancelledError):
        await check
