"""The checking pipeline: a proxy goes through the registry's stages in order and stops at the
first stage it fails (`Pipeline.run`); many proxies are checked concurrently, bounded by a
semaphore (`Pipeline.check_many`).

Results are plain values (`PipelineResult`, `CheckRecord`); storing them is the caller's job.
Imports `core`, this package, structlog and the standard library.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

import structlog

from proxyfleet.core.proxies import ProxyAddress
from proxyfleet.pool.checkers.base import (
    CheckContext,
    Checker,
    CheckOutcome,
    CheckRecord,
    Findings,
    Handoff,
    Stage,
)
from proxyfleet.pool.checkers.registry import CheckerRegistry

log = structlog.get_logger(__name__)

# What flows from the checks to `check_many`'s caller: results, the feeder's error, the end.
_Results = asyncio.Queue["PipelineResult | Exception | None"]


@dataclass(frozen=True, slots=True)
class PipelineResult:
    proxy: ProxyAddress
    records: tuple[CheckRecord, ...]
    findings: Findings
    failed_stage: int | None

    @property
    def alive(self) -> bool:
        """Whether the proxy passed every stage that had a check for it."""
        return self.failed_stage is None

    @property
    def latency_ms(self) -> float | None:
        """The round trip through the proxy to the judge (the protocol stage's latency)."""
        found = [r.latency_ms for r in self.records
                 if r.stage == Stage.PROTOCOL and r.latency_ms is not None]
        return found[-1] if found else None

    @property
    def detail(self) -> str:
        return self.records[-1].detail if self.records else "no checker applies"


class Pipeline:
    def __init__(self, registry: CheckerRegistry) -> None:
        self._stages = registry.stages()

    async def run(self, proxy: ProxyAddress, ctx: CheckContext) -> PipelineResult:
        handoff = Handoff()
        try:
            return await self._run_stages(proxy, ctx.with_handoff(handoff))
        finally:
            handoff.close()  # a connection no later stage took

    async def _run_stages(self, proxy: ProxyAddress, ctx: CheckContext) -> PipelineResult:
        records: list[CheckRecord] = []
        findings = ctx.findings
        for stage, checkers in self._stages:
            for checker in (c for c in checkers if _applies(c, proxy)):
                outcome = await _outcome(checker, proxy, ctx.with_findings(findings))
                records.append(_record(checker, outcome))
                findings = findings.merged(outcome.findings)
                if not outcome.passed:
                    return PipelineResult(proxy, tuple(records), findings, failed_stage=int(stage))
        return PipelineResult(proxy, tuple(records), findings, failed_stage=None)

    async def check_many(
        self, proxies: Iterable[ProxyAddress], ctx: CheckContext, concurrency: int
    ) -> AsyncIterator[PipelineResult]:
        """Results as checks finish, with at most `concurrency` checks in flight.

        Proxies are pulled from `proxies` only as slots free up, so a million-long generator
        costs no more memory than `concurrency` checks. Leaving the loop early cancels the
        checks still running.
        """
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        results: _Results = asyncio.Queue()
        crew = _Crew()
        crew.start("check feeder", self._feed(proxies, ctx, concurrency, results, crew))
        try:
            while (result := await results.get()) is not None:
                if isinstance(result, Exception):
                    raise result
                yield result
        finally:
            await crew.cancel()

    async def _feed(
        self,
        proxies: Iterable[ProxyAddress],
        ctx: CheckContext,
        concurrency: int,
        results: _Results,
        crew: _Crew,
    ) -> None:
        slots = asyncio.Semaphore(concurrency)
        try:
            for proxy in proxies:
                await slots.acquire()
                crew.start(f"check {proxy.url()}", self._run_into(proxy, ctx, results, slots))
        except Exception as error:  # the caller's iterable broke: tell the caller
            results.put_nowait(error)
            return
        # Holding every slot means every check has put its result: nothing can follow the end.
        for _ in range(concurrency):
            await slots.acquire()
        results.put_nowait(None)

    async def _run_into(
        self,
        proxy: ProxyAddress,
        ctx: CheckContext,
        results: _Results,
        slots: asyncio.Semaphore,
    ) -> None:
        try:
            results.put_nowait(await self.run(proxy, ctx))
        finally:
            slots.release()


def _applies(checker: Checker, proxy: ProxyAddress) -> bool:
    try:
        return checker.applies_to(proxy)
    except Exception as error:
        log.warning("checker_crashed", checker=checker.name, proxy=proxy.url(), error=repr(error))
        return False


async def _outcome(checker: Checker, proxy: ProxyAddress, ctx: CheckContext) -> CheckOutcome:
    # A checker is a plugin and may be someone else's code: its bug fails the check, not us.
    try:
        return await checker.check(proxy, ctx)
    except Exception as error:
        log.warning("checker_crashed", checker=checker.name, proxy=proxy.url(), error=repr(error))
        return CheckOutcome.failed(f"checker {checker.name} crashed: {type(error).__name__}")


def _record(checker: Checker, outcome: CheckOutcome) -> CheckRecord:
    # Plain ints and strings: records go to storage and JSON, not to enum-aware code.
    return CheckRecord(checker.name, int(checker.stage), outcome.passed, outcome.latency_ms,
                       outcome.detail)


class _Crew:
    """The tasks of one `check_many`: named, kept (asyncio holds only weak references), crashes
    logged, cancelled together."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, name: str, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("check_task_crashed", task=task.get_name(), error=repr(task.exception()))

    async def cancel(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
