"""What an upstream's refusal means for the client (`refusal`) and how an upstream is named."""

from __future__ import annotations

import pytest

from proxyfleet.gateway.chain import Upstream, UpstreamProtocol, refusal
from proxyfleet.gateway.dialer import DialFailure
from proxyfleet.wire.credentials import Credentials
from proxyfleet.wire.errors import BadTarget, WireError
from proxyfleet.wire.http_connect import ConnectRefused
from proxyfleet.wire.http_head import Headers, ResponseHead
from proxyfleet.wire.socks4 import Socks4Error, Socks4Reply
from proxyfleet.wire.socks5 import Socks5AuthFailed, Socks5Error, Socks5Reply
from proxyfleet.wire.target import Target


def _http(status: int) -> ConnectRefused:
    return ConnectRefused(ResponseHead((1, 1), status, "x", Headers([])))


@pytest.mark.parametrize(("error", "failure", "proxy_at_fault"), [
    (Socks5AuthFailed("credentials refused"), DialFailure.FAILED, True),
    (Socks5Error(Socks5Reply.CONNECTION_REFUSED, "x"), DialFailure.REFUSED, False),
    (Socks5Error(Socks5Reply.HOST_UNREACHABLE, "x"), DialFailure.HOST_UNREACHABLE, False),
    (Socks5Error(Socks5Reply.NETWORK_UNREACHABLE, "x"), DialFailure.NETWORK_UNREACHABLE, False),
    (Socks5Error(Socks5Reply.TTL_EXPIRED, "x"), DialFailure.TIMED_OUT, False),
    (Socks5Error(Socks5Reply.NOT_ALLOWED, "x"), DialFailure.FAILED, True),
    (Socks5Error(Socks5Reply.GENERAL_FAILURE, "x"), DialFailure.FAILED, True),
    (_http(407), DialFailure.FAILED, True),
    (_http(401), DialFailure.FAILED, True),
    (_http(403), DialFailure.FAILED, True),
    (_http(502), DialFailure.FAILED, False),
    (_http(504), DialFailure.TIMED_OUT, False),
    (_http(599), DialFailure.FAILED, True),
    (Socks4Error(Socks4Reply.REJECTED, "x"), DialFailure.FAILED, False),
    (BadTarget("SOCKS4 cannot carry an IPv6 address"), DialFailure.FAILED, False),
    (WireError("garbage"), DialFailure.FAILED, True),
])
def test_refusal(error: WireError, failure: DialFailure, proxy_at_fault: bool) -> None:
    assert refusal(error) == (failure, proxy_at_fault)


def test_an_upstream_is_named_without_its_password() -> None:
    upstream = Upstream(UpstreamProtocol.SOCKS5, Target("::1", 1080), Credentials("u", "secret"))
    assert str(upstream) == "socks5://u@[::1]:1080"
