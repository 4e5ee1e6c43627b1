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
)
from proxyfleet.pool.checkers.errors import describe
from proxyfleet.pool.checkers.link import open_link


class TcpConnect(CheckerPlugin):
    name = "tcp_connect"
    stage = Stage.CONNECT
    priority = 10

    async def check(self, proxy: ProxyAddress, ctx: CheckContext) -> CheckOutcome:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(ctx.timeout):
                if ctx.handoff is None:
                    await _connect_and_close(proxy)
                else:  # in a pipeline: the next stage speaks through this connection
                    ctx.handoff.give(await open_link(proxy.host, proxy.port))
        except TimeoutError:
            return CheckOutcome.failed(f"connect timed out after {ctx.timeout:g} s")
        except OSError as error:
            return CheckOutcome.failed(f"connect failed: {describe(error)}", elapsed_ms(started))
        return CheckOutcome(passed=True, latency_ms=elapsed_ms(started), detail="port open")


async def _connect_and_close(proxy: ProxyAddress) -> None:
    # A bare Protocol: a stream reader and writer would be wasted on a connection we only open.
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(asyncio.Protocol, proxy.host, proxy.port)
    transport.close()
