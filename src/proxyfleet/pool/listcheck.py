"""Checking a list with no server and no database: the use case behind `proxyfleet check`.
Every input line gets one verdict, in input order; lines that are not proxies get an error.
Imports `core`, the parsers' pure address parsing, the checker pipeline and the stdlib."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from proxyfleet.core.proxies import ProxyAddress, ProxyProtocol
from proxyfleet.pool.checkers import CheckContext, Pipeline, PipelineResult, own_public_ip
from proxyfleet.pool.parsers.address import COMMENT_PREFIXES, parse_line


@dataclass(frozen=True, slots=True)
class LineVerdict:
    proxy: str
    alive: bool
    protocol: str | None
    anonymity: str | None
    exit_ip: str | None
    latency_ms: float | None
    country: str | None
    error: str | None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def proxy_lines(text: str) -> list[str]:
    """The lines worth a verdict: not blank, not comments."""
    stripped = (line.strip() for line in text.splitlines())
    return [line for line in stripped if line and not line.startswith(COMMENT_PREFIXES)]


def _verdict(line: str, result: PipelineResult) -> LineVerdict:
    found = result.findings
    return LineVerdict(
        proxy=line, alive=result.alive, protocol=result.proxy.protocol.value,
        anonymity=found.anonymity.value if result.alive and found.anonymity else None,
        exit_ip=found.exit_ip if result.alive else None,
        latency_ms=result.latency_ms if result.alive else None,
        country=found.country if result.alive else None,
        error=None if result.alive else result.detail)


def _not_a_proxy(line: str) -> LineVerdict:
    return LineVerdict(line, False, None, None, None, None, None, "not a proxy address")


async def check_lines(pipeline: Pipeline, lines: Sequence[str],
                      default_protocol: ProxyProtocol, judge_url: str,
                      concurrency: int, seconds: float,
                      on_verdict: Callable[[LineVerdict], None] | None = None,
                      ) -> list[LineVerdict]:
    parsed = [parse_line(line, default_protocol) for line in lines]
    positions: dict[ProxyAddress, list[int]] = {}
    for index, address in enumerate(parsed):
        if address is not None:
            positions.setdefault(address, []).append(index)
    verdicts: list[LineVerdict | None] = [
        None if address else _not_a_proxy(line) for line, address in zip(lines, parsed,
                                                                          strict=True)]
    if on_verdict is not None:  # every line counts, so a progress bar reaches its end
        for verdict in verdicts:
            if verdict is not None:
                on_verdict(verdict)
    ctx = CheckContext(judge_url=judge_url, own_ip=await own_public_ip(judge_url, seconds),
                       timeout=seconds)
    async for result in pipeline.check_many(positions, ctx, concurrency):
        for index in positions[result.proxy]:
            verdict = verdicts[index] = _verdict(lines[index], result)
            if on_verdict is not None:
                on_verdict(verdict)
    return [v for v in verdicts if v is not None]
