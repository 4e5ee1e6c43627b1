"""dante (`danted`, Debian's 1.4) as a SOCKS5 and SOCKS4 proxy, open and with its `username`
method, classified by the pipeline.

A SOCKS tunnel cannot add headers, so a working dante is elite; the judge sees it egress from
its `external` address. dante's `username` method checks the system's accounts (passwd and
shadow), so the login test makes a throwaway account with useradd/chpasswd and deletes it
afterwards; that needs root, and the test skips without it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from proxyfleet.core.proxies import Anonymity, ProxyProtocol
from proxyfleet.pool.checkers import CheckContext, Pipeline
from tests.integration.daemons.labels import alive_as, check, label
from tests.integration.daemons.processes import EGRESS, LISTEN, binary, free_port, running

SOCKS4, SOCKS5 = ProxyProtocol.SOCKS4, ProxyProtocol.SOCKS5


def dante_config(port: int, method: str) -> str:
    # Reading shadow for the username method needs root; requests run as nobody.
    users = ["user.privileged: root", "user.unprivileged: nobody"] if os.geteuid() == 0 else []
    return "\n".join([
        "logoutput: stderr",
        f"internal: {LISTEN} port = {port}",
        f"external: {EGRESS}",
        f"socksmethod: {method}",
        "clientmethod: none",
        *users,
        f"client pass {{ from: {LISTEN}/32 to: 0.0.0.0/0 }}",
        f"socks pass {{ from: {LISTEN}/32 to: 0.0.0.0/0 command: connect }}",
    ]) + "\n"


def start_dante(daemons: contextlib.ExitStack, folder: Path, method: str = "none") -> int:
    """danted in the foreground, one process set (-N 1); its port."""
    executable = binary("danted", "dante-server")
    port = free_port()
    conf = folder / f"danted-{port}.conf"
    conf.write_text(dante_config(port, method))
    argv = [executable, "-f", str(conf), "-p", str(folder / f"danted-{port}.pid"), "-N", "1"]
    daemons.enter_context(running(argv, port, folder / f"danted-{port}.log"))
    return port


@contextlib.contextmanager
def throwaway_account() -> Iterator[tuple[str, str]]:
    """A system account with a password and no home or shell, deleted afterwards."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("dante's username method checks system accounts; making one needs root")
    login = (f"pfcheck{secrets.token_hex(3)}", secrets.token_urlsafe(12))
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", login[0]],
                   check=True)
    try:
        subprocess.run(["chpasswd"], input=f"{login[0]}:{login[1]}\n", text=True, check=True)
        yield login
    finally:
        subprocess.run(["userdel", login[0]], check=True)


@pytest.mark.parametrize("protocol", [SOCKS5, SOCKS4])
async def test_an_open_dante_is_an_elite_socks_proxy(
    daemons: contextlib.ExitStack, tmp_path: Path, pipeline: Pipeline, ctx: CheckContext,
    protocol: ProxyProtocol,
) -> None:
    port = start_dante(daemons, tmp_path)
    result = await check(pipeline, ctx, protocol, port)
    assert label(result) == alive_as(protocol, Anonymity.ELITE), result.detail


async def test_the_username_method_passes_the_right_login_only(
    daemons: contextlib.ExitStack, tmp_path: Path, pipeline: Pipeline, ctx: CheckContext
) -> None:
    login = daemons.enter_context(throwaway_account())
    port = start_dante(daemons, tmp_path, method="username")
    right = await check(pipeline, ctx, SOCKS5, port, login)
    wrong = await check(pipeline, ctx, SOCKS5, port, (login[0], "not-the-password"))
    missing = await check(pipeline, ctx, SOCKS5, port)
    assert label(right) == alive_as(SOCKS5, Anonymity.ELITE), right.detail
    assert (wrong.alive, wrong.failed_stage) == (False, 2)
    assert wrong.detail == (
        "SOCKS5 authentication failed (status 0x01) (in the socks5 handshake)"
    )
    assert (missing.alive, missing.failed_stage) == (False, 2)
    assert missing.detail.startswith(
        "SOCKS5 proxy accepts none of our methods (credentials needed?)"
    ), missing.detail
