"""The pipeline with stand-in checkers: stage order, stopping at a failed stage, findings
passed on, crashing plugins, and check_many's bound, order-free results and early exit."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from structlog.testing import capture_logs

from proxyfleet.core.proxies import Anonymity, ProxyAddress, ProxyProtocol
from proxyfleet.pool.checkers import (
    CheckContext,
    CheckerRegistry,
    CheckOutcome,
    CheckRecord,
    Findings,
    Pipeline,
)

CTX = CheckContext(judge_url="http://127.0.0.1:1/judge", own_ip="127.0.0.1", timeout=1.0)


def proxy(n: int = 1, protocol: ProxyProtocol = ProxyProtocol.HTTP) -> ProxyAddress:
    return ProxyAddress(f"10.0.0.{n}", 8080, protocol)


@dataclass
class Stub:
    """A checker whose verdict is set by the test; it remembers what it was shown."""

    name: str
    stage: int
    priority: int = 10
    passes: bool = True
    findings: Findings = field(default_factory=Findings)
    only: ProxyProtocol | None = None
    seen: list[CheckContext] = field(default_factory=list)

    def applies_to(self, proxy: ProxyAddress) -> bool:
        return self.only is None or proxy.protocol is self.only

    async def check(self, proxy: ProxyAddress, ctx: CheckContext) -> CheckOutcome:
        self.seen.append(ctx)
        return CheckOutcome(self.passes, 1.5, f"{self.name} said {self.passes}", self.findings)


@dataclass
class Crashes(Stub):
    async def check(self, proxy: ProxyAddress, ctx: CheckContext) -> CheckOutcome:
        raise KeyError("plugin bug")


@dataclass
class CrashesInAppliesTo(Stub):
    def applies_to(self, proxy: ProxyAddress) -> bool:
        raise KeyError("plugin bug")


def pipeline(*checkers: Stub) -> Pipeline:
    return Pipeline(CheckerRegistry(checkers))


async def test_every_stage_runs_in_order_when_all_pass() -> None:
    three = pipeline(Stub("enrich", 3), Stub("connect", 1), Stub("speak", 2))
    result = await three.run(proxy(), CTX)
    assert [r.checker_name for r in result.records] == ["connect", "speak", "enrich"]
    assert result.alive
    assert result.failed_stage is None


async def test_records_carry_name_stage_verdict_latency_and_detail() -> None:
    result = await pipeline(Stub("connect", 1)).run(proxy(), CTX)
    assert result.records == (CheckRecord("connect", 1, True, 1.5, "connect said True"),)


async def test_a_failed_stage_stops_the_proxy_there() -> None:
    later = Stub("enrich", 3)
    result = await pipeline(Stub("connect", 1), Stub("speak", 2, passes=False), later).run(
        proxy(), CTX
    )
    assert [r.checker_name for r in result.records] == ["connect", "speak"]
    assert not result.alive
    assert result.failed_stage == 2
    assert result.detail == "speak said False"
    assert later.seen == []


async def test_a_failure_stops_the_rest_of_its_stage_too() -> None:
    second = Stub("second", 1, priority=20)
    result = await pipeline(Stub("first", 1, priority=10, passes=False), second).run(proxy(), CTX)
    assert [r.checker_name for r in result.records] == ["first"]
    assert second.seen == []


async def test_only_applicable_checkers_run() -> None:
    http = Stub("http", 2, only=ProxyProtocol.HTTP)
    socks = Stub("socks5", 2, only=ProxyProtocol.SOCKS5)
    result = await pipeline(http, socks).run(proxy(protocol=ProxyProtocol.SOCKS5), CTX)
    assert [r.checker_name for r in result.records] == ["socks5"]
    assert http.seen == []


async def test_findings_reach_later_stages_and_the_result() -> None:
    found = Findings(exit_ip="198.51.100.4", anonymity=Anonymity.ELITE,
                     protocol=ProxyProtocol.HTTP)
    enrich = Stub("geo", 3, findings=Findings(country="GB"))
    result = await pipeline(Stub("speak", 2, findings=found), enrich).run(proxy(), CTX)
    assert enrich.seen[0].findings == found
    assert enrich.seen[0].judge_url == CTX.judge_url
    assert result.findings == Findings("198.51.100.4", Anonymity.ELITE, "GB", ProxyProtocol.HTTP)


async def test_latency_is_the_protocol_stage_latency() -> None:
    result = await pipeline(Stub("connect", 1), Stub("speak", 2)).run(proxy(), CTX)
    assert result.latency_ms == 1.5
    assert (await pipeline(Stub("connect", 1)).run(proxy(), CTX)).latency_ms is None


async def test_no_checkers_means_alive_with_nothing_said() -> None:
    result = await pipeline().run(proxy(), CTX)
    assert result.alive
    assert result.detail == "no checker applies"


async def test_a_crashing_checker_fails_the_check_not_the_pipeline() -> None:
    with capture_logs() as logs:
        result = await pipeline(Crashes("buggy", 1), Stub("speak", 2)).run(proxy(), CTX)
    crashed = CheckRecord("buggy", 1, False, None, "checker buggy crashed: KeyError")
    assert result.records == (crashed,)
    assert logs[0]["event"] == "checker_crashed"


async def test_a_checker_crashing_in_applies_to_is_skipped() -> None:
    with capture_logs() as logs:
        result = await pipeline(CrashesInAppliesTo("buggy", 1), Stub("speak", 2)).run(proxy(), CTX)
    assert [r.checker_name for r in result.records] == ["speak"]
    assert logs[0]["event"] == "checker_crashed"


# --- check_many ---------------------------------------------------------------------------

@dataclass
class Gauge(Stub):
    """Counts how many checks are inside it at once."""

    inside: int = 0
    most: int = 0

    async def check(self, proxy: ProxyAddress, ctx: CheckContext) -> CheckOutcome:
        self.inside += 1
        self.most = max(self.most, self.inside)
        await asyncio.sleep(0.001 * (proxy.port % 7))
        self.inside -= 1
        return CheckOutcome(True, 1.0, "ok")


def many(count: int) -> list[ProxyAddress]:
    return [ProxyAddress(f"10.0.{n // 250}.{n % 250 + 1}", 1000 + n, ProxyProtocol.HTTP)
            for n in range(count)]


async def test_check_many_checks_every_proxy_once() -> None:
    proxies = many(500)
    results = [r async for r in pipeline(Gauge("g", 1)).check_many(proxies, CTX, 50)]
    assert sorted(r.proxy.port for r in results) == [p.port for p in proxies]


@pytest.mark.parametrize("concurrency", [1, 7, 64])
async def test_check_many_never_exceeds_its_concurrency(concurrency: int) -> None:
    gauge = Gauge("g", 1)
    async for _ in pipeline(gauge).check_many(many(300), CTX, concurrency):
        pass
    assert gauge.most == concurrency


async def test_check_many_pulls_proxies_lazily() -> None:
    pulled = 0

    def endless() -> Iterator[ProxyAddress]:
        nonlocal pulled
        while True:
            pulled += 1
            yield proxy(pulled % 200 + 1)

    got = 0
    async for _ in pipeline(Gauge("g", 1)).check_many(endless(), CTX, 10):
        got += 1
        if got == 25:
            break
    assert pulled <= 25 + 10 + 1


async def test_leaving_check_many_early_cancels_the_checks_in_flight() -> None:
    gauge = Gauge("g", 1)
    async for _ in pipeline(gauge).check_many(many(100), CTX, 20):
        break
    await asyncio.sleep(0.02)
    tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith("check ")]
    assert tasks == []


async def test_check_many_of_nothing() -> None:
    assert [r async for r in pipeline(Gauge("g", 1)).check_many([], CTX, 5)] == []


async def test_check_many_reports_a_broken_iterable() -> None:
    def broken() -> Iterator[ProxyAddress]:
        yield proxy()
        raise LookupError("the list went away")

    with pytest.raises(LookupError, match="went away"):
        async for _ in pipeline(Gauge("g", 1)).check_many(broken(), CTX, 5):
            pass


async def test_check_many_wants_a_positive_concurrency() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        async for _ in pipeline().check_many([proxy()], CTX, 0):
            pass


@dataclass
class AnswersNothingFor(Stub):
    """A plugin bug past the checker's own guard: no outcome at all for one proxy."""

    broken_port: int = 0

    async def check(self, proxy: ProxyAddress, ctx: CheckContext) -> CheckOutcome:
        if proxy.port == self.broken_port:
            return None  # type: ignore[return-value]
        return CheckOutcome(True, 1.0, "ok")


async def test_check_many_loses_only_the_proxy_it_could_not_check() -> None:
    proxies = many(3)
    broken = AnswersNothingFor("g", 1, broken_port=proxies[1].port)
    with capture_logs() as logs:
        async with asyncio.timeout(5):
            results = [r async for r in pipeline(broken).check_many(proxies, CTX, 1)]
    assert [r.proxy.port for r in results] == [proxies[0].port, proxies[2].port]
    assert [log["event"] for log in logs] == ["check_crashed"]
