"""What the gateway hears from each exit and each client: `ExitWatch` follows one upstream
leg through a pool proxy (bytes down, the target's HTTP statuses for the ban rules and the
`X-Proxyfleet-Exit` header, the outcome when it ends), `ClientWatch` counts what a client
sends (bytes up). `upstream_of` says how the engine speaks to a pool proxy.

Imports `core`, `wire`, the engine and the standard library.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable

from proxyfleet.core.proxies import ProxyAddress, ProxyProtocol
from proxyfleet.gateway.chain import Upstream, UpstreamProtocol
from proxyfleet.rotating.bans import BanList
from proxyfleet.rotating.limits import UsageTally
from proxyfleet.wire.credentials import Credentials
from proxyfleet.wire.target import Target

# `http` and `https` pool proxies are both asked for a tunnel with CONNECT (a plain request
# is forwarded through the tunnel), SOCKS ones with their own handshake.
UPSTREAM_PROTOCOLS = {
    ProxyProtocol.HTTP: UpstreamProtocol.HTTP,
    ProxyProtocol.HTTPS: UpstreamProtocol.HTTP,
    ProxyProtocol.SOCKS4: UpstreamProtocol.SOCKS4,
    ProxyProtocol.SOCKS5: UpstreamProtocol.SOCKS5,
}
EXIT_HEADER = "X-Proxyfleet-Exit"


@functools.lru_cache(maxsize=65_536)
def upstream_of(address: ProxyAddress) -> Upstream:
    """How to speak to a pool proxy. Remembered: the same few thousand addresses are dialed
    over and over, and checking a host costs more than the lookup (bench/gateway_bench)."""
    login = None
    if address.username is not None:
        login = Credentials(address.username, address.password or "")
    return Upstream(UPSTREAM_PROTOCOLS[address.protocol],
                    Target.of(address.host, address.port), login)


class ClientWatch:
    """Counts a client's bytes as its user's bytes up."""

    def __init__(self, tally: UsageTally, user: uuid.UUID | None) -> None:
        self._tally = tally
        self.user = user

    def arrived(self, size: int) -> None:
        if self.user is not None:
            self._tally.counts(self.user)[1] += size

    def response(self, status: int) -> bytes:
        return b""

    def lost(self, exc: Exception | None) -> None:
        """Nothing to do: the session releases the route."""


class ExitWatch:
    """One connection through pool proxy `proxy_id` to `domain`, dialed at `dialed`
    (monotonic seconds). The outcome goes to `record(proxy_id, ok, ttfb_ms)` when it ends: ok
    when anything came back through it and it did not break (a read or write error), and the
    time to first byte (from the dial, through the proxy's handshake, to the first byte back
    from the target), None when none came."""

    def __init__(self, proxy_id: uuid.UUID, domain: str, user: uuid.UUID | None, *,
                 tally: UsageTally, bans: BanList, exit_header: bool,
                 record: Callable[[uuid.UUID, bool, float | None], None],
                 dialed: float) -> None:
        self.proxy_id = proxy_id
        self._domain = domain
        self._user = user
        self._tally = tally
        self._bans = bans
        self._header = f"{EXIT_HEADER}: {proxy_id}\r\n".encode() if exit_header else b""
        self._record = record
        self._dialed = dialed
        self.ttfb_ms: float | None = None
        self.received = 0
        self.responses = 0
        self._ended = False

    def arrived(self, size: int) -> None:
        if not self.received:
            self.ttfb_ms = (time.monotonic() - self._dialed) * 1000
        self.received += size
        if self._user is not None:
            self._tally.counts(self._user)[2] += size

    def response(self, status: int) -> bytes:
        self.responses += 1
        if self.responses > 1 and self._user is not None:
            # Further requests over a kept upstream connection (a sticky session) were not
            # dialed, so they are counted here.
            self._tally.counts(self._user)[0] += 1
        if self._bans.matches(status):
            self._bans.ban(self.proxy_id, self._domain, status)
        return self._header

    def lost(self, exc: Exception | None) -> None:
        if not self._ended:
            self._ended = True
            self._record(self.proxy_id, self.received > 0 and exc is None, self.ttfb_ms)
