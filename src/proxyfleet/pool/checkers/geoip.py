"""Stage 3, `geoip`: the country of the exit IP, from the offline database `iptocc` ships.

Private, loopback and other non-public addresses have no country; that is no failure.
Imports `core`, `pool.judge`, this package, iptocc and the standard library.
"""

from __future__ import annotations

import functools

import iptocc

from proxyfleet.core.proxies import ProxyAddress
from proxyfleet.pool.checkers.base import (
    CheckContext,
    CheckerPlugin,
    CheckOutcome,
    Findings,
    Stage,
    _tuple,
    outcome,
)
from proxyfleet.pool.judge import parse_ip


@functools.lru_cache(maxsize=4096)
def country_of(address: str) -> str | None:
    """ISO 3166 alpha-2 code of a public address; None when it has none or is unknown."""
    ip = parse_ip(address)  # also unwraps ::ffff:a.b.c.d, which iptocc does not
    if ip is None or not ip.is_global:
        return None
    return iptocc.country_code(str(ip))


class GeoIp(CheckerPlugin):
    name = "geoip"
    stage = Stage.ENRICH
    priority = 10

    async def check(self, proxy: ProxyAddress, ctx: CheckContext) -> CheckOutcome:
        exit_ip = ctx.findings.exit_ip
        if exit_ip is None:
            return outcome(True, None, "no exit IP to locate")
        country = country_of(exit_ip)
        if country is None:
            return outcome(True, None, f"no country for {exit_ip}")
        found = _tuple(Findings, (None, None, country, None))  # Findings(country=country)
        return outcome(True, None, f"{exit_ip} is in {country}", found)
