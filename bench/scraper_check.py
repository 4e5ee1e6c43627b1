"""proxy-scraper-cli's checker over a list, as a process of its own: what `proxyfleet check`
is measured against whole-process in `bench.check_compare --whole-process`. Standard library
and proxyscraper only (no proxyfleet import inflates its start).

    python -m bench.scraper_check LIST JUDGE_HOST JUDGE_PORT OWN_IP CONCURRENCY TIMEOUT OUT

LIST has one proxy a line as proxyscraper names them (`http user:pw@host:port`); OUT gets a
JSON array, one `[alive, exit_ip, anonymity]` a line of LIST. The checker is driven as its own
check run drives it (N workers pulling from one queue; a basic check, then a confirmation for
those that pass), on uvloop when installed as its CLI does, and an audit hook refuses any
connection off loopback.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import sys
from typing import Any

IP_PATH = "/ip"  # plain text, like checkip.amazonaws.com
CONFIRM_PATH = "/get"  # httpbin's, which proxyscraper asks for by that path
Verdict = tuple[bool, str | None, str | None]


def loopback_only(event: str, args: tuple[Any, ...]) -> None:
    """An audit hook: no socket of this process may reach past loopback."""
    if event == "socket.connect" and isinstance(args[1], tuple):
        require_loopback(str(args[1][0]))
    elif event == "socket.getaddrinfo":
        require_loopback(str(args[0]))


def require_loopback(host: str) -> None:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise PermissionError(f"the benchmark stays on loopback; refused {host!r}")


def make_checker(host: str, port: int, own_ip: str, timeout: float) -> Any:
    from proxyscraper.checker import Checker  # type: ignore[import-untyped]
    from proxyscraper.judges import Judge  # type: ignore[import-untyped]

    checker = Checker(host, [own_ip], timeout, timeout, confirm_ip=host, https_test=False,
                      judge=Judge(host, IP_PATH, port), confirm_host=host, confirm_port=port)
    checker.reserved_exit_ips_ok = True  # the farm's exits are loopback addresses
    return checker


async def verdict(checker: Any, key: str) -> Verdict:
    """How proxyscraper's answers are read: alive when its basic check and its confirmation
    pass; a basic check failed for `own_ip_exposed` means a working, transparent proxy."""
    result, basic = await checker.check_detailed(key)
    if result is None:
        if basic.reason == "own_ip_exposed":
            return True, str(basic.data.get("exit_ip")), "transparent"
        return False, None, None
    if not await checker.confirm(result):
        return False, None, None
    return True, result.exit_ip, result.anonymity or None


async def check_all(checker: Any, keys: list[str], concurrency: int) -> list[Verdict]:
    verdicts: list[Verdict | None] = [None] * len(keys)
    jobs = iter(enumerate(keys))

    async def work() -> None:
        for index, key in jobs:
            verdicts[index] = await verdict(checker, key)

    async with asyncio.TaskGroup() as workers:
        for _ in range(min(concurrency, len(keys))):
            workers.create_task(work())
    return [v or (False, None, None) for v in verdicts]


def main(argv: list[str]) -> None:
    listing, host, port, own_ip, concurrency, timeout, out = argv
    sys.addaudithook(loopback_only)
    with open(listing, encoding="utf-8") as file:
        keys = [line.strip() for line in file if line.strip()]
    checker = make_checker(host, int(port), own_ip, float(timeout))
    run = check_all(checker, keys, int(concurrency))
    try:
        import uvloop
    except ImportError:
        verdicts = asyncio.run(run)
    else:
        verdicts = uvloop.run(run)
    with open(out, "w", encoding="utf-8") as file:
        json.dump(verdicts, file)


if __name__ == "__main__":
    main(sys.argv[1:])
