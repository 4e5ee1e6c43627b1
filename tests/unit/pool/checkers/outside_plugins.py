"""Checkers as an outside package would ship them, for entry point discovery tests.

They satisfy the `Checker` protocol without subclassing `CheckerPlugin`, so importing this
module registers nothing by itself.
"""

from __future__ import annotations

from proxyfleet.core.proxies import ProxyAddress
from proxyfleet.pool.checkers import CheckContext, CheckOutcome


class TargetReachability:
    name = "target_reachability"
    stage = 3
    priority = 50

    def applies_to(self, proxy: ProxyAddress) -> bool:
        return True

    async def check(self, proxy: ProxyAddress, ctx: CheckContext) -> CheckOutcome:
        return CheckOutcome(passed=True, latency_ms=1.0, detail="target reached")


REACHABILITY = TargetReachability()


class ExplodesOnInit:
    name = "explodes"
    stage = 3
    priority = 1

    def __init__(self) -> None:
        raise RuntimeError("boom")


class NotAChecker:
    name = "not_a_checker"


class NamelessChecker(TargetReachability):
    name = ""


class StringStage(TargetReachability):
    name = "string_stage"
    stage = "3"  # type: ignore[assignment]


class Impostor(TargetReachability):
    name = "tcp_connect"


not_even_a_class = None
