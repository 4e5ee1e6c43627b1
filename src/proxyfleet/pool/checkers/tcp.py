"""Stage 1, `tcp_connect`: does anything accept a TCP connection where the proxy should be?

Imports `core`, this package and the standard library.
"""

from __future__ import annotations

import asyncio
import time

from proxyfleet.core.proxies import ProxyAddress
from proxyfleet.pool.checkers.base import (
    CheckContext,
    CheckerPlugin,
    CheckOutcome,
    Stage,
    elapsed_ms,
    outcome,
)
from proxyfleet.pool.checkers.errors import describe
from proxyfleet.pool.checkers.link import open_link_by


class TcpConnect(CheckerPlugin):
    name = "tcp_connect"
    stage = Stage.CONNECT
    priority = 10

    async def check(self, proxy: ProxyAddress, ctx: CheckContext) -> CheckOutcome:
        started = time.perf_counter()
        deadline = asyncio.get_running_loop().time() + ctx.timeout
        try:
            link = await open_link_by(proxy.host, proxy.port, deadline)
        except TimeoutError:
            return CheckOutcome.failed(f"connect timed out after {ctx.timeout:g} s")
        except OSError as error:
            return CheckOutcome.failed(f"connect failed: {describe(error)}", elapsed_ms(started))
        if ctx.handoff is None:
            link.close()
        else:  # in a pipeline: the next stage speaks through this connection
            ctx.handoff.give(link)
        return outcome(True, elapsed_ms(started), "port open")
