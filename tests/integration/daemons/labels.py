"""Checking one daemon through the pipeline, and its verdict as one comparable tuple."""

from __future__ import annotations

from typing import NamedTuple

from proxyfleet.core.proxies import Anonymity, ProxyAddress, ProxyProtocol
from proxyfleet.pool.checkers import CheckContext, Pipeline, PipelineResult
from tests.integration.daemons.processes import EGRESS, LISTEN


class Label(NamedTuple):
    alive: bool
    protocol: ProxyProtocol | None
    anonymity: Anonymity | None
    exit_ip: str | None


def alive_as(protocol: ProxyProtocol, anonymity: Anonymity) -> Label:
    """What a working daemon is labelled: it egresses from `EGRESS`."""
    return Label(True, protocol, anonymity, EGRESS)


def label(result: PipelineResult) -> Label:
    found = result.findings
    return Label(result.alive, found.protocol, found.anonymity, found.exit_ip)


async def check(
    pipeline: Pipeline,
    ctx: CheckContext,
    protocol: ProxyProtocol,
    port: int,
    login: tuple[str, str] | None = None,
) -> PipelineResult:
    username, password = login or (None, None)
    return await pipeline.run(ProxyAddress(LISTEN, port, protocol, username, password), ctx)
