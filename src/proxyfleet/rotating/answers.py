"""The gateway's own answers to HTTP clients when it cannot serve them: 502, 504, 429 or 403, each
with the reason in a `Proxy-Status` header (RFC 9209), and the SOCKS5 failure that goes with
each.

Imports `wire` and the engine's dial errors.
"""

from __future__ import annotations

import enum
import re
from http import HTTPStatus

from proxyfleet.gateway.dialer import DialError, DialFailure
from proxyfleet.wire.http_head import error_response
from proxyfleet.wire.target import Target

PROXY_NAME = "proxyfleet"
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


class ProxyError(enum.StrEnum):
    """RFC 9209 §2.3 error types the gateway reports."""

    DESTINATION_UNAVAILABLE = "destination_unavailable"
    CONNECTION_REFUSED = "connection_refused"
    CONNECTION_TIMEOUT = "connection_timeout"
    DNS_ERROR = "dns_error"
    DESTINATION_IP_UNROUTABLE = "destination_ip_unroutable"
    HTTP_REQUEST_DENIED = "http_request_denied"
    CONNECTION_LIMIT_REACHED = "connection_limit_reached"


ERROR_FOR = {
    DialFailure.UNRESOLVED: ProxyError.DNS_ERROR,
    DialFailure.REFUSED: ProxyError.CONNECTION_REFUSED,
    DialFailure.NETWORK_UNREACHABLE: ProxyError.DESTINATION_IP_UNROUTABLE,
    DialFailure.HOST_UNREACHABLE: ProxyError.DESTINATION_IP_UNROUTABLE,
    DialFailure.TIMED_OUT: ProxyError.CONNECTION_TIMEOUT,
    DialFailure.FAILED: ProxyError.DESTINATION_UNAVAILABLE,
    DialFailure.NOT_ALLOWED: ProxyError.HTTP_REQUEST_DENIED,
}


def proxy_status(error: ProxyError, details: str) -> str:
    """A `Proxy-Status` field value: our name, the error type, the details as an sf-string."""
    text = _UNPRINTABLE.sub("?", details).replace("\\", "\\\\").replace('"', '\\"')
    return f'{PROXY_NAME}; error={error.value}; details="{text}"'


def answer(status: HTTPStatus, error: ProxyError, details: str) -> bytes:
    return error_response(status, [("Proxy-Status", proxy_status(error, details))])


def cannot_reach(failure: DialFailure, target: Target, details: str) -> DialError:
    """No exit could reach `target`: 502 (504 when it timed out) / the SOCKS5 reply for
    `failure`, SOCKS5 host-unreachable when nothing more precise is known."""
    status = HTTPStatus.GATEWAY_TIMEOUT if failure is DialFailure.TIMED_OUT \
        else HTTPStatus.BAD_GATEWAY
    socks = DialFailure.HOST_UNREACHABLE if failure is DialFailure.FAILED else failure
    return DialError(socks, target, answer=answer(status, ERROR_FOR[failure], details))


def over_limit(target: Target, details: str) -> DialError:
    """A per-user cap: 429 / SOCKS5 'connection not allowed by ruleset'."""
    return DialError(DialFailure.NOT_ALLOWED, target, answer=answer(
        HTTPStatus.TOO_MANY_REQUESTS, ProxyError.CONNECTION_LIMIT_REACHED, details))


def not_yours(target: Target, details: str) -> DialError:
    """An exit the client may not use (another user's bought proxy): 403 / SOCKS5
    'connection not allowed by ruleset'."""
    return DialError(DialFailure.NOT_ALLOWED, target, answer=answer(
        HTTPStatus.FORBIDDEN, ProxyError.HTTP_REQUEST_DENIED, details))
