"""The egress policy "through an upstream proxy": `Upstream` (where the next proxy is and how
it is spoken to), `ChainDialer`, a `Dialer` that reaches the upstream with another dialer and
runs a wire client handshake (HTTP CONNECT, SOCKS5, SOCKS4) over the connection, and
`UpstreamError`, the `DialError` it raises, which says whose fault a failure was.

A chain's failures are answered like a direct dial's: an upstream that cannot be reached,
turns our login away or speaks nonsense is `DialFailure.FAILED` (HTTP 502, SOCKS5 general
failure); what the upstream reports about the target passes through (refused, unreachable,
timed out); a handshake that outlives the connect timeout is `DialFailure.TIMED_OUT`.

May import `proxyfleet.wire`, the gateway's dialer and leg, and the standard library.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus

from proxyfleet.gateway.dialer import Dialer, DialError, DialFailure, TcpDialer, classify
from proxyfleet.gateway.leg import Leg
from proxyfleet.wire.credentials import Credentials
from proxyfleet.wire.errors import BadTarget, WireError
from proxyfleet.wire.handshake import NEED_DATA, ClientHandshake
from proxyfleet.wire.http_connect import ConnectRefused, HttpConnectClient
from proxyfleet.wire.socks4 import Socks4Client, Socks4Error
from proxyfleet.wire.socks5 import Socks5AuthFailed, Socks5Error, Socks5Reply
from proxyfleet.wire.socks5_client import Socks5Client
from proxyfleet.wire.target import Target

CONNECT_TIMEOUT = 10.0


class UpstreamProtocol(enum.Enum):
    HTTP = "http"
    """HTTP CONNECT, with Basic credentials when given."""
    SOCKS5 = "socks5"
    """SOCKS5 CONNECT, username/password when given; names are resolved by the upstream."""
    SOCKS4 = "socks4"
    """SOCKS4 (4a for names); a username is sent as the user id, a password cannot be."""


def _http(target: Target, credentials: Credentials | None) -> ClientHandshake:
    return HttpConnectClient(target, credentials)


def _socks5(target: Target, credentials: Credentials | None) -> ClientHandshake:
    return Socks5Client(target, credentials)


def _socks4(target: Target, credentials: Credentials | None) -> ClientHandshake:
    return Socks4Client(target, credentials.username if credentials else "")


HANDSHAKES: dict[UpstreamProtocol, Callable[[Target, Credentials | None], ClientHandshake]] = {
    UpstreamProtocol.HTTP: _http,
    UpstreamProtocol.SOCKS5: _socks5,
    UpstreamProtocol.SOCKS4: _socks4,
}


@dataclass(frozen=True, slots=True)
class Upstream:
    """The next proxy of a chain."""

    protocol: UpstreamProtocol
    address: Target
    credentials: Credentials | None = None

    def handshake(self, target: Target) -> ClientHandshake:
        """A fresh client machine asking this upstream for a tunnel to `target`."""
        return HANDSHAKES[self.protocol](target, self.credentials)

    def __str__(self) -> str:
        login = f"{self.credentials.username}@" if self.credentials else ""
        return f"{self.protocol.value}://{login}{self.address.authority}"


class UpstreamError(DialError):
    """A chained dial that failed. `proxy_at_fault` is True when the upstream itself failed
    (unreachable, login refused, broken answer) rather than reporting on the target: what a
    rotating gateway needs to tell a bad pool proxy from a bad target."""

    def __init__(self, failure: DialFailure, target: Target, upstream: Upstream, reason: str,
                 *, proxy_at_fault: bool) -> None:
        super().__init__(failure, target)
        self.upstream = upstream
        self.reason = reason
        self.proxy_at_fault = proxy_at_fault

    def __str__(self) -> str:
        return f"{self.target.authority} via {self.upstream}: {self.reason}"


# What an upstream's refusal means. Anything not listed is FAILED, and the upstream's fault.
_SOCKS5_REPLIES = {
    Socks5Reply.CONNECTION_REFUSED: DialFailure.REFUSED,
    Socks5Reply.HOST_UNREACHABLE: DialFailure.HOST_UNREACHABLE,
    Socks5Reply.NETWORK_UNREACHABLE: DialFailure.NETWORK_UNREACHABLE,
    Socks5Reply.TTL_EXPIRED: DialFailure.TIMED_OUT,
}
_HTTP_STATUSES: dict[int, DialFailure] = {
    HTTPStatus.BAD_GATEWAY: DialFailure.FAILED,
    HTTPStatus.GATEWAY_TIMEOUT: DialFailure.TIMED_OUT,
}
_LOGIN_STATUSES: set[int] = {HTTPStatus.UNAUTHORIZED, HTTPStatus.PROXY_AUTHENTICATION_REQUIRED}


def refusal(exc: WireError) -> tuple[DialFailure, bool]:
    """What a handshake's `WireError` means: the failure to answer with, and whether the
    upstream is at fault (True) or only reports on the target (False)."""
    if isinstance(exc, Socks5AuthFailed):
        return DialFailure.FAILED, True
    if isinstance(exc, Socks5Error):
        failure = _SOCKS5_REPLIES.get(exc.reply)
        return (DialFailure.FAILED, True) if failure is None else (failure, False)
    if isinstance(exc, ConnectRefused):
        failure = _HTTP_STATUSES.get(exc.response.status)
        return (DialFailure.FAILED, True) if failure is None else (failure, False)
    # SOCKS4 says only "rejected or failed": most often the target, so do not blame the proxy.
    # BadTarget: the upstream's protocol cannot carry this target (IPv6 over SOCKS4).
    return DialFailure.FAILED, not isinstance(exc, Socks4Error | BadTarget)


def _reason(exc: WireError) -> str:
    if isinstance(exc, Socks5AuthFailed):
        return f"login refused ({exc})"
    if isinstance(exc, ConnectRefused) and exc.response.status in _LOGIN_STATUSES:
        return f"login refused ({exc})"
    return str(exc)


class ChainDialer:
    """Reaches `upstream` through `via` (direct TCP by default; another `ChainDialer` makes a
    longer chain) and asks it for a tunnel to the target. The leg it returns carries the
    target's bytes; whatever the upstream sent past its handshake is waiting in its inbox.
    The whole dial, connection and handshake, lasts at most `connect_timeout` seconds."""

    def __init__(self, upstream: Upstream, *, via: Dialer | None = None,
                 connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self.upstream = upstream
        self._via = via or TcpDialer()
        self._connect_timeout = connect_timeout

    async def dial(self, target: Target, make_leg: Callable[[], Leg]) -> Leg:
        # One deadline over the connection and the handshake: a timer per dial, not one per
        # step (bench/gateway_bench: a timer costs as much as parsing the request).
        deadline = asyncio.get_running_loop().time() + self._connect_timeout
        leg: Leg | None = None
        try:
            async with asyncio.timeout_at(deadline):
                leg = await self._reach(target, make_leg)
                await self._handshake(leg, target)
        except TimeoutError as exc:
            if leg is None:
                raise UpstreamError(DialFailure.TIMED_OUT, target, self.upstream,
                                    f"upstream not reachable: {DialFailure.TIMED_OUT.value}",
                                    proxy_at_fault=True) from exc
            leg.abort()
            # A silent upstream or a slow target: nothing here says which.
            raise UpstreamError(DialFailure.TIMED_OUT, target, self.upstream,
                                f"no tunnel within {self._connect_timeout:g} s",
                                proxy_at_fault=False) from exc
        except BaseException:
            if leg is not None:  # on any failure (or cancellation) the leg is closed
                leg.abort()
            raise
        return leg

    async def _reach(self, target: Target, make_leg: Callable[[], Leg]) -> Leg:
        try:
            return await self._via.dial(self.upstream.address, make_leg)
        except OSError as exc:  # DialError and gaierror included; the deadline is dial()'s
            failure = classify(exc)
            answer = failure if failure is DialFailure.TIMED_OUT else DialFailure.FAILED
            detail = str(exc) if isinstance(exc, DialError) else failure.value
            raise UpstreamError(answer, target, self.upstream,
                                f"upstream not reachable: {detail}",
                                proxy_at_fault=True) from exc

    async def _handshake(self, leg: Leg, target: Target) -> None:
        try:
            machine = self.upstream.handshake(target)
            while (event := machine.next_event()) is NEED_DATA:
                leg.write(machine.data_to_send())
                data = await leg.read()  # bounded by the dial's deadline
                if not data:
                    raise self._broken(target, "upstream closed during the handshake")
                machine.receive_data(data)
        except WireError as exc:
            failure, proxy_at_fault = refusal(exc)
            raise UpstreamError(failure, target, self.upstream, _reason(exc),
                                proxy_at_fault=proxy_at_fault) from exc
        except ConnectionError as exc:
            raise self._broken(target, f"connection lost during the handshake: {exc}") from exc
        leg.write(machine.data_to_send())
        leg.unread(event.early_data)

    def _broken(self, target: Target, reason: str) -> UpstreamError:
        return UpstreamError(DialFailure.FAILED, target, self.upstream, reason,
                             proxy_at_fault=True)
