"""The checking pipeline: a proxy goes through the registry's stages in order and stops at the
first stage it fails (`Pipeline.run`); many proxies are checked concurrently by a crew of
`concurrency` workers, each taking the next proxy when done with its last
(`Pipeline.check_many`).

Results are plain values (`PipelineResult`, `CheckRecord`); storing them is the caller's job.
Imports `core`, this package, structlog and the standard library.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Iterable, Iterator
from typing import Any, NamedTuple

import structlog

from proxyfleet.core.proxies import ProxyAddress
from proxyfleet.pool.checkers.base import (
    NO_FINDINGS,
    CheckContext,
    Checker,
    CheckOutcome,
    CheckRecord,
    Findings,
    Handoff,
    Stage,
    _tuple,
)
from proxyfleet.pool.checkers.handover import Handover
from proxyfleet.pool.checkers.registry import CheckerRegistry

log = structlog.get_logger(__name__)

# What flows from the checks to `check_many`'s caller: results, the iterable's error, the end.
_Results = Handover["PipelineResult | Exception | None"]


class PipelineResult(NamedTuple):
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
        # Each checker with its name and stage as records carry them, read once, not per check.
        self._stages = [(int(stage), [(checker, checker.name, int(checker.stage))
                                      for checker in checkers])
                        for stage, checkers in registry.stages()]

    async def run(self, proxy: ProxyAddress, ctx: CheckContext) -> PipelineResult:
        return await self._run_handing(proxy, ctx.with_handoff(Handoff()))

    async def _run_handing(self, proxy: ProxyAddress, ctx: CheckContext) -> PipelineResult:
        """Every stage for `proxy`, `ctx` carrying a `Handoff` (a worker's, reused proxy after
        proxy), which is left empty.

        One coroutine for the whole pipeline, the plugins' guards written inline: this runs
        once per check, and every coroutine or call it awaited through would be resumed at
        each of the check's waits."""
        records: list[CheckRecord] = []
        failed: int | None = None
        try:
            for stage, checkers in self._stages:
                for checker, name, checker_stage in checkers:
                    # A checker is a plugin and may be someone else's code: its bug fails the
                    # check (or skips the checker), never the pipeline.
                    try:
                        applies = checker.applies_to(proxy)
                    except Exception as error:
                        _crashed(checker, proxy, error)
                        applies = False
                    if not applies:
                        continue
                    try:
                        outcome = await checker.check(proxy, ctx)
                    except Exception as error:
                        _crashed(checker, proxy, error)
                        outcome = CheckOutcome.failed(
                            f"checker {name} crashed: {type(error).__name__}")
                    # Plain ints and strings: records go to storage and JSON, not to
                    # enum-aware code.
                    records.append(_tuple(CheckRecord, (name, checker_stage, outcome.passed,
                                                         outcome.latency_ms, outcome.detail)))
                    found = outcome.findings
                    if found is not NO_FINDINGS:  # most checks learn nothing new
                        findings = ctx.findings.merged(found)
                        if findings is not ctx.findings:
                            ctx = ctx.with_findings(findings)
                    if not outcome.passed:
                        failed = stage
                        break
                if failed is not None:
                    break
        finally:
            if ctx.handoff is not None:
                ctx.handoff.close()  # a connection no later stage took
        return _tuple(PipelineResult, (proxy, tuple(records), ctx.findings, failed))

    async def check_many(
        self, proxies: Iterable[ProxyAddress], ctx: CheckContext, concurrency: int
    ) -> AsyncIterator[PipelineResult]:
        """Results as checks finish, with at most `concurrency` checks in flight.

        Proxies are pulled from `proxies` only as the caller takes results, never more than
        `concurrency` ahead of it, so a million-long generator costs no more memory than
        `concurrency` checks. Leaving the loop early cancels the checks still running.
        """
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        results: _Results = Handover(ahead=concurrency)
        crew = _Crew(concurrency, results)
        queue = iter(proxies)
        for number in range(concurrency):
            crew.start(f"check worker {number}", self._work(queue, ctx, results))
        try:
            while (result := await results.take()) is not None:
                if isinstance(result, Exception):
                    raise result
                results.unpull()  # taken: another proxy may be pulled
                yield result
        finally:
            await crew.cancel()

    async def _work(self, proxies: Iterator[ProxyAddress], ctx: CheckContext,
                    results: _Results) -> None:
        # A task per worker, not per check: a check costs no task of its own.
        ctx = ctx.with_handoff(Handoff())
        while True:
            await results.pull()
            try:
                proxy = next(proxies)
            except StopIteration:
                results.unpull()  # the next waiting worker learns of the end too
                return
            except Exception as error:  # the caller's iterable broke: the caller hears of it
                results.put(error)
                results.unpull()
                return
            try:
                results.put(await self._run_handing(proxy, ctx))
            except Exception as error:  # our bug, not a checker's: lose this proxy, not the rest
                log.error("check_crashed", proxy=proxy.url(), error=repr(error))
                results.unpull()


def _crashed(checker: Checker, proxy: ProxyAddress, error: Exception) -> None:
    log.warning("checker_crashed", checker=checker.name, proxy=proxy.url(), error=repr(error))


class _Crew:
    """The workers of one `check_many`: named, kept (asyncio holds only weak references),
    crashes logged, cancelled together. When the last one ends, the results end."""

    def __init__(self, size: int, results: _Results) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._working = size
        self._results = results

    def start(self, name: str, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("check_task_crashed", task=task.get_name(), error=repr(task.exception()))
        self._working -= 1
        if self._working == 0:
            self._results.put(None)  # every worker has put its last result

    async def cancel(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
