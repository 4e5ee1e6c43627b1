"""squid (Debian's 5.7) as an HTTP and a CONNECT proxy, classified by the pipeline.

Observed at the judge: by default squid adds `Via: 1.1 <hostname> (squid/5.7)` and
`X-Forwarded-For: <client address>` (transparent); `forwarded_for off` sends
`X-Forwarded-For: unknown` beside the Via (anonymous); `forwarded_for delete` with `via off`
adds nothing (elite). Debian's default access rules refuse CONNECT to ports other than 443
with 403, which the `https` check must report.

squid drops root for its cache user, so its folder lives in /tmp, owned by that user, not in
pytest's private tmp_path, and
is removed after squid stops. `-N` keeps it in the foreground; no pinger, cache or access log.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from proxyfleet.core.proxies import Anonymity, ProxyProtocol
from proxyfleet.pool.checkers import CheckContext, Pipeline
from tests.integration.daemons.labels import alive_as, check, label
from tests.integration.daemons.processes import EGRESS, LISTEN, binary, free_port, running

HTTP, HTTPS = ProxyProtocol.HTTP, ProxyProtocol.HTTPS
SQUID_USER = "proxy"  # Debian's cache_effective_user


@contextlib.contextmanager
def squid_folder() -> Iterator[Path]:
    """A folder in /tmp the squid user may write: pytest's tmp_path is private to root."""
    folder = Path(tempfile.mkdtemp(prefix="proxyfleet-squid-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam(SQUID_USER)
        os.chown(folder, user.pw_uid, user.pw_gid)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def squid_config(folder: Path, port: int, connect_ports: str, options: list[str]) -> str:
    lines = [
        f"http_port {LISTEN}:{port}",
        f"pid_filename {folder / 'squid.pid'}",
        f"cache_log {folder / 'cache.log'}",
        f"coredump_dir {folder}",
        "access_log none", "cache_store_log none", "cache deny all", "cache_mem 8 MB",
        "netdb_filename none", "pinger_enable off", "shutdown_lifetime 0 seconds",
        f"dns_nameservers {LISTEN}",  # never ask a resolver off this host
        f"tcp_outgoing_address {EGRESS}",
        f"acl checker src {LISTEN}/32",
        f"acl SSL_ports port {connect_ports}",
        "acl CONNECT method CONNECT",
        "http_access deny CONNECT !SSL_ports",
        "http_access allow checker",
        "http_access deny all",
        *options,
    ]
    return "\n".join(lines) + "\n"


def start_squid(daemons: contextlib.ExitStack, *options: str, connect_ports: str = "443") -> int:
    """squid in the foreground with these extra config lines; its port."""
    executable = binary("squid", "squid")
    folder = daemons.enter_context(squid_folder())
    port = free_port()
    conf = folder / "squid.conf"
    conf.write_text(squid_config(folder, port, connect_ports, list(options)))
    daemons.enter_context(running([executable, "-N", "-f", str(conf)], port,
                                  folder / "squid.out"))
    return port


@pytest.mark.parametrize(
    ("options", "anonymity"),
    [
        pytest.param((), Anonymity.TRANSPARENT, id="default-xff-and-via"),
        pytest.param(("forwarded_for off",), Anonymity.ANONYMOUS, id="xff-unknown"),
        pytest.param(("forwarded_for delete", "via off"), Anonymity.ELITE, id="nothing-added"),
    ],
)
async def test_http_anonymity_follows_forwarded_for_and_via(
    daemons: contextlib.ExitStack, pipeline: Pipeline, ctx: CheckContext,
    options: tuple[str, ...], anonymity: Anonymity,
) -> None:
    port = start_squid(daemons, *options)
    result = await check(pipeline, ctx, HTTP, port)
    assert label(result) == alive_as(HTTP, anonymity), result.detail


async def test_connect_to_the_judge_is_refused_by_default_rules(
    daemons: contextlib.ExitStack, pipeline: Pipeline, ctx: CheckContext
) -> None:
    port = start_squid(daemons)
    result = await check(pipeline, ctx, HTTPS, port)
    assert (result.alive, result.failed_stage) == (False, 2)
    assert result.detail.startswith("proxy refused CONNECT: HTTP 403 Forbidden"), result.detail


async def test_connect_allowed_to_the_judge_port_is_an_elite_tunnel(
    daemons: contextlib.ExitStack, pipeline: Pipeline, ctx: CheckContext
) -> None:
    port = start_squid(daemons, connect_ports="1-65535")
    result = await check(pipeline, ctx, HTTPS, port)
    assert label(result) == alive_as(HTTPS, Anonymity.ELITE), result.detail
