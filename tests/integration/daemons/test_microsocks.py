"""microsocks as a SOCKS5 proxy, with and without a login (-u/-P), classified by the pipeline,
and the port of a stopped daemon reported dead.

A SOCKS tunnel cannot add headers, so a working microsocks is elite; the judge sees it egress
from the address given with -b.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from proxyfleet.core.proxies import Anonymity, ProxyProtocol
from proxyfleet.pool.checkers import CheckContext, Pipeline
from tests.integration.daemons.labels import alive_as, check, label
from tests.integration.daemons.processes import (
    EGRESS,
    LISTEN,
    accepts,
    binary,
    free_port,
    running,
)

SOCKS5 = ProxyProtocol.SOCKS5
LOGIN = ("micro-user", "micro-secret")


def start_microsocks(daemons: contextlib.ExitStack, folder: Path,
                     login: tuple[str, str] | None = None) -> int:
    executable = binary("microsocks", "microsocks")
    port = free_port()
    argv = [executable, "-i", LISTEN, "-p", str(port), "-b", EGRESS]
    if login is not None:
        argv += ["-u", login[0], "-P", login[1]]
    daemons.enter_context(running(argv, port, folder / f"microsocks-{port}.log"))
    return port


async def test_an_open_microsocks_is_an_elite_socks5_proxy(
    daemons: contextlib.ExitStack, tmp_path: Path, pipeline: Pipeline, ctx: CheckContext
) -> None:
    port = start_microsocks(daemons, tmp_path)
    result = await check(pipeline, ctx, SOCKS5, port)
    assert label(result) == alive_as(SOCKS5, Anonymity.ELITE), result.detail
    assert [(r.checker_name, r.passed) for r in result.records] == [
        ("tcp_connect", True), ("socks5", True), ("geoip", True),
    ]


async def test_the_right_login_passes(
    daemons: contextlib.ExitStack, tmp_path: Path, pipeline: Pipeline, ctx: CheckContext
) -> None:
    port = start_microsocks(daemons, tmp_path, LOGIN)
    result = await check(pipeline, ctx, SOCKS5, port, LOGIN)
    assert label(result) == alive_as(SOCKS5, Anonymity.ELITE), result.detail


async def test_a_wrong_login_fails_with_the_rfc1929_status(
    daemons: contextlib.ExitStack, tmp_path: Path, pipeline: Pipeline, ctx: CheckContext
) -> None:
    port = start_microsocks(daemons, tmp_path, LOGIN)
    result = await check(pipeline, ctx, SOCKS5, port, (LOGIN[0], "not-the-password"))
    assert (result.alive, result.failed_stage) == (False, 2)
    # Any non-zero RFC 1929 status is a refusal; microsocks answers 0x02.
    assert result.detail == (
        "SOCKS5 authentication failed (status 0x02) (in the socks5 handshake)"
    )


async def test_no_login_fails_saying_credentials_are_needed(
    daemons: contextlib.ExitStack, tmp_path: Path, pipeline: Pipeline, ctx: CheckContext
) -> None:
    port = start_microsocks(daemons, tmp_path, LOGIN)
    result = await check(pipeline, ctx, SOCKS5, port)
    assert (result.alive, result.failed_stage) == (False, 2)
    assert result.detail.startswith(
        "SOCKS5 proxy accepts none of our methods (credentials needed?)"
    ), result.detail


async def test_the_port_of_a_stopped_daemon_is_reported_dead(
    tmp_path: Path, pipeline: Pipeline, ctx: CheckContext
) -> None:
    with contextlib.ExitStack() as daemons:
        port = start_microsocks(daemons, tmp_path)
        assert (await check(pipeline, ctx, SOCKS5, port)).alive
    assert not accepts(port)
    result = await check(pipeline, ctx, SOCKS5, port)
    assert (result.alive, result.failed_stage) == (False, 1)
    assert [r.checker_name for r in result.records] == ["tcp_connect"]
    assert result.detail == "connect failed: connection refused"
