"""Stage 2: speak the proxy's protocol to reach the judge through it — `http` (absolute-URI
GET), `https` (CONNECT, then a plain GET inside the tunnel), `socks4` and `socks5` — and read
latency, exit IP and anonymity off the judge's report.

Only the checker of the proxy's own protocol applies. Imports `core`, `pool.judge`, this
package and the standard library.
"""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass
from typing import ClassVar

from proxyfleet.core.proxies import ProxyAddress, ProxyProtocol
from proxyfleet.pool.checkers import tunnels
from proxyfleet.pool.checkers.base import (
    CheckContext,
    CheckerPlugin,
    CheckOutcome,
    Findings,
    Stage,
    _tuple,
    elapsed_ms,
    outcome,
)
from proxyfleet.pool.checkers.conversation import Conversation, empty
from proxyfleet.pool.checkers.errors import describe
from proxyfleet.pool.checkers.judging import JudgeAddress, judge_request, report_steps
from proxyfleet.pool.checkers.link import open_link_by
from proxyfleet.pool.judge import JudgeReport, classify_anonymity, parse_ip


@dataclass(slots=True)
class _Progress:
    """Where a check got to, so a timeout or a reset can say what it interrupted."""

    step: str = "connecting to the proxy"


class ProxiedJudgeCheck(CheckerPlugin):
    """Base of the protocol checks: tunnel (or not) to the judge, ask it, read the report."""

    stage = Stage.PROTOCOL
    priority = 10
    protocol: ClassVar[ProxyProtocol]

    def applies_to(self, proxy: ProxyAddress) -> bool:
        return proxy.protocol is self.protocol

    async def check(self, proxy: ProxyAddress, ctx: CheckContext) -> CheckOutcome:
        judge = JudgeAddress.from_url(ctx.judge_url)
        progress = _Progress()
        started = time.perf_counter()
        # One deadline for the whole check: a proxy that drips bytes cannot stretch it.
        deadline = asyncio.get_running_loop().time() + ctx.timeout
        link = ctx.handoff.take() if ctx.handoff is not None else None
        try:
            if link is None:
                link = await open_link_by(proxy.host, proxy.port, deadline)
            report = await link.converse(self._steps(proxy, judge, progress), deadline)
        except TimeoutError:
            return CheckOutcome.failed(f"timed out after {ctx.timeout:g} s {progress.step}")
        except OSError as error:
            return CheckOutcome.failed(f"{describe(error)} ({progress.step})", elapsed_ms(started))
        finally:
            if link is not None:
                link.close()
        return self._verdict(report, ctx, elapsed_ms(started))

    def _steps(self, proxy: ProxyAddress, judge: JudgeAddress, progress: _Progress
               ) -> Conversation[JudgeReport]:
        progress.step = f"in the {self.name} handshake"
        yield from self.tunnel_steps(proxy, judge)
        progress.step = "waiting for the judge"
        return (yield from report_steps(self.judge_request(proxy, judge)))

    def tunnel_steps(self, proxy: ProxyAddress, judge: JudgeAddress) -> Conversation[None]:
        """The handshake that makes the connection to the proxy carry bytes to the judge."""
        return empty()

    def judge_request(self, proxy: ProxyAddress, judge: JudgeAddress) -> bytes:
        return judge_request(judge, absolute=False, authorization=None)

    def _verdict(self, report: JudgeReport, ctx: CheckContext, latency_ms: float) -> CheckOutcome:
        exit_ip = exit_ip_of(report)
        if exit_ip is None:
            origin = report["origin"][:60]
            return CheckOutcome.failed(f"the judge's origin is no address: {origin!r}")
        anonymity = classify_anonymity(report, ctx.own_ip)
        findings = _tuple(Findings, (exit_ip, anonymity, None, self.protocol))
        # A StrEnum formats as its value, without the Python property `.value` is.
        detail = f"{anonymity} {self.protocol} proxy, exit {exit_ip}"
        return outcome(True, latency_ms, detail, findings)


def exit_ip_of(report: JudgeReport) -> str | None:
    """The address the judge saw: the last of `origin`, which httpbin-style judges may list."""
    return _canonical_ip(report["origin"].rsplit(",", 1)[-1])


@functools.lru_cache(maxsize=4096)  # a proxy's exit IP comes back at every check of it
def _canonical_ip(token: str) -> str | None:
    ip = parse_ip(token)
    return None if ip is None else str(ip)


class HttpCheck(ProxiedJudgeCheck):
    name = "http"
    protocol = ProxyProtocol.HTTP

    def judge_request(self, proxy: ProxyAddress, judge: JudgeAddress) -> bytes:
        authorization = tunnels.proxy_authorization(proxy)
        return judge_request(judge, absolute=True, authorization=authorization)


class HttpsCheck(ProxiedJudgeCheck):
    name = "https"
    protocol = ProxyProtocol.HTTPS

    def tunnel_steps(self, proxy: ProxyAddress, judge: JudgeAddress) -> Conversation[None]:
        return tunnels.http_connect_steps(proxy, judge.host, judge.port)


class Socks4Check(ProxiedJudgeCheck):
    name = "socks4"
    protocol = ProxyProtocol.SOCKS4

    def tunnel_steps(self, proxy: ProxyAddress, judge: JudgeAddress) -> Conversation[None]:
        return tunnels.socks4_steps(proxy, judge.host, judge.port)


class Socks5Check(ProxiedJudgeCheck):
    name = "socks5"
    protocol = ProxyProtocol.SOCKS5

    def tunnel_steps(self, proxy: ProxyAddress, judge: JudgeAddress) -> Conversation[None]:
        return tunnels.socks5_steps(proxy, judge.host, judge.port)
