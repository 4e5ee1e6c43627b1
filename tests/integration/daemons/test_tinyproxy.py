"""tinyproxy (Debian's 1.11) as an HTTP proxy and a CONNECT proxy, classified by the pipeline.

Observed at the judge: by default tinyproxy adds only `Via: 1.1 <hostname> (tinyproxy/1.11.1)`
(anonymous); `DisableViaHeader Yes` adds nothing (elite); `XTinyproxy Yes` adds
`X-Tinyproxy: <client address>`, which gives us away (transparent). CONNECT is allowed to every
port unless `ConnectPort` lines name some (then it answers 403). With `BasicAuth`, a request
without a login gets 407, but one with a wrong login gets `401 Unauthorized` and
`WWW-Authenticate`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from proxyfleet.core.proxies import Anonymity, ProxyProtocol
from proxyfleet.pool.checkers import CheckContext, Pipeline
from tests.integration.daemons.labels import alive_as, check, label
from tests.integration.daemons.processes import EGRESS, LISTEN, binary, free_port, running

HTTP, HTTPS = ProxyProtocol.HTTP, ProxyProtocol.HTTPS
LOGIN = ("tiny-user", "tiny-secret")


def start_tinyproxy(daemons: contextlib.ExitStack, folder: Path, *options: str) -> int:
    """tinyproxy in the foreground (-d) with these extra config lines; its port."""
    executable = binary("tinyproxy", "tinyproxy")
    port = free_port()
    lines = [f"Port {port}", f"Listen {LISTEN}", f"Bind {EGRESS}", f"Allow {LISTEN}",
             "Timeout 10", "LogLevel Warning", "MaxClients 16", *options]
    conf = folder / f"tinyproxy-{port}.conf"
    conf.write_text("\n".join(lines) + "\n")
    daemons.enter_context(running([executable, "-d", "-c", str(conf)], port,
                                  folder / f"tinyproxy-{port}.log"))
    return port


@pytest.mark.parametrize(
    ("options", "anonymity"),
    [
        pytest.param((), Anonymity.ANONYMOUS, id="default-via"),
        pytest.param(("DisableViaHeader Yes",), Anonymity.ELITE, id="no-via"),
        pytest.param(("DisableViaHeader Yes", "XTinyproxy Yes"), Anonymity.TRANSPARENT,
                     id="x-tinyproxy"),
    ],
)
async def test_http_anonymity_follows_the_header_options(
    daemons: contextlib.ExitStack, tmp_path: Path, pipeline: Pipeline, ctx: CheckContext,
    options: tuple[str, ...], anonymity: Anonymity,
) -> None:
    port = start_tinyproxy(daemons, tmp_path, *options)
    result = await check(pipeline, ctx, HTTP, port)
    assert label(result) == alive_as(HTTP, anonymity), result.detail


async def test_connect_tunnels_are_elite_even_with_via(
    daemons: contextlib.ExitStack, tmp_path: Path, pipeline: Pipeline, ctx: CheckContext
) -> None:
    port = start_tinyproxy(daemons, tmp_path)
    result = await check(pipeline, ctx, HTTPS, port)
    assert label(result) == alive_as(HTTPS, Anonymity.ELITE), result.detail


async def test_connect_to_a_port_not_allowed_fails_the_protocol_stage(
    daemons: contextlib.ExitStack, tmp_path: Path, pipeline: Pipeline, ctx: CheckContext
) -> None:
    port = start_tinyproxy(daemons, tmp_path, "ConnectPort 443")
    result = await check(pipeline, ctx, HTTPS, port)
    assert (result.alive, result.failed_stage) == (False, 2)
    assert result.detail.startswith("proxy refused CONNECT: HTTP 403"), result.detail


async def test_basic_auth_lets_the_right_login_in_and_asks_for_a_missing_one(
    daemons: contextlib.ExitStack, tmp_path: Path, pipeline: Pipeline, ctx: CheckContext
) -> None:
    port = start_tinyproxy(daemons, tmp_path, f"BasicAuth {LOGIN[0]} {LOGIN[1]}")
    right = await check(pipeline, ctx, HTTP, port, LOGIN)
    missing = await check(pipeline, ctx, HTTP, port)
    assert label(right) == alive_as(HTTP, Anonymity.ANONYMOUS), right.detail
    assert (missing.alive, missing.failed_stage) == (False, 2)
    assert missing.detail == "proxy authentication failed (HTTP 407) (waiting for the judge)"


async def test_a_wrong_login_fails(
    daemons: contextlib.ExitStack, tmp_path: Path, pipeline: Pipeline, ctx: CheckContext
) -> None:
    # tinyproxy 1.11 answers a wrong login with "401 Unauthorized" + WWW-Authenticate, not 407.
    port = start_tinyproxy(daemons, tmp_path, f"BasicAuth {LOGIN[0]} {LOGIN[1]}")
    wrong = await check(pipeline, ctx, HTTP, port, (LOGIN[0], "not-the-password"))
    assert (wrong.alive, wrong.failed_stage) == (False, 2)
    assert "HTTP 401" in wrong.detail


async def test_a_wrong_login_is_called_an_authentication_failure(
    daemons: contextlib.ExitStack, tmp_path: Path, pipeline: Pipeline, ctx: CheckContext
) -> None:
    port = start_tinyproxy(daemons, tmp_path, f"BasicAuth {LOGIN[0]} {LOGIN[1]}")
    wrong = await check(pipeline, ctx, HTTP, port, (LOGIN[0], "not-the-password"))
    assert wrong.detail.startswith("proxy authentication failed")
