"""The server side of an HTTP/1 proxy: `HttpProxyServer` turns the bytes a client sends into
`ProxyRequest`s (CONNECT tunnels and absolute-URI forwards), and the functions here build what
goes on: the origin-form head to forward, the response head to hand back, and the proxy's own
answers (200 Connection established, 407, 502…).

Standard library only; imports nothing of the project.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from http import HTTPStatus

from proxyfleet.wire.credentials import BadCredentials, Credentials, decode_basic
from proxyfleet.wire.errors import BadTarget
from proxyfleet.wire.handshake import NEED_DATA, NeedData
from proxyfleet.wire.http_head import (
    MAX_HEAD_SIZE,
    Headers,
    HeadReader,
    HttpError,
    RequestHead,
    ResponseHead,
    error_response,
    parse_request_head,
    status_line,
)
from proxyfleet.wire.target import Target, parse_authority

# Hop-by-hop fields (RFC 9110 §7.6.1) plus the proxy's own; never passed to the next hop.
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-connection", "proxy-authorization",
    "proxy-authenticate", "te", "trailer", "upgrade",
})
_HTTP_PORT = 80
_METHOD_START = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class RequestKind(enum.Enum):
    TUNNEL = "CONNECT"
    FORWARD = "absolute-URI forward"


@dataclass(frozen=True, slots=True)
class ProxyRequest:
    """One request a proxy client made, with where it goes and who claims to make it."""

    kind: RequestKind
    head: RequestHead
    target: Target
    path: str
    credentials: Credentials | None

    @property
    def keep_alive(self) -> bool:
        """Whether the client wants its connection kept after this exchange."""
        return wants_keep_alive(self.head.version, self.head.headers)

    @property
    def upgrade(self) -> str | None:
        """The protocol asked for by `Connection: upgrade` + `Upgrade`, passed through."""
        if "upgrade" in self.head.headers.tokens("Connection"):
            return self.head.headers.get("Upgrade")
        return None


def wants_keep_alive(version: tuple[int, int], headers: Headers) -> bool:
    tokens = headers.tokens("Connection") + headers.tokens("Proxy-Connection")
    if version >= (1, 1):
        return "close" not in tokens
    return "keep-alive" in tokens


class HttpProxyServer:
    """Reads proxy requests off a client connection, one head at a time.

    After each `ProxyRequest`, `take_rest()` hands over the bytes that followed its head
    (a body, tunnel data or the next request) for the driver to route.
    """

    def __init__(self, head_limit: int = MAX_HEAD_SIZE) -> None:
        self._reader = HeadReader(head_limit)

    def receive_data(self, data: bytes) -> None:
        self._reader.receive_data(data)

    def next_event(self) -> ProxyRequest | NeedData:
        head = self._reader.next_head()
        if head is NEED_DATA:
            _refuse_non_http_start(self._reader.started)
            return NEED_DATA
        return proxy_request(parse_request_head(head))

    def take_rest(self) -> bytes:
        return self._reader.take_rest()


def _refuse_non_http_start(start: bytes) -> None:
    # A request starts with a method token (after stray line ends); refusing anything else
    # at once spares a TLS hello or binary noise the wait for a blank line that never comes.
    method = start.lstrip(b"\r\n").partition(b" ")[0]
    if method and not _METHOD_START.fullmatch(method):
        raise HttpError(HTTPStatus.BAD_REQUEST, f"not an HTTP request: {start!r}")


def proxy_request(head: RequestHead) -> ProxyRequest:
    credentials = _credentials(head.headers)
    if head.method == "CONNECT":
        target = _target(head.target, None)
        return ProxyRequest(RequestKind.TUNNEL, head, target, "", credentials)
    authority, path = _split_absolute_uri(head.target)
    return ProxyRequest(RequestKind.FORWARD, head, _target(authority, _HTTP_PORT), path,
                        credentials)


def _credentials(headers: Headers) -> Credentials | None:
    value = headers.get("Proxy-Authorization")
    if value is None:
        return None
    try:
        return decode_basic(value)
    except BadCredentials as exc:
        raise HttpError(HTTPStatus.BAD_REQUEST, str(exc)) from exc


def _target(authority: str, default_port: int | None) -> Target:
    try:
        target = parse_authority(authority, default_port)
    except BadTarget as exc:
        raise HttpError(HTTPStatus.BAD_REQUEST, str(exc)) from exc
    if target.port == 0:
        raise HttpError(HTTPStatus.BAD_REQUEST, "port 0")
    return target


def _split_absolute_uri(uri: str) -> tuple[str, str]:
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme.lower() != "http":
        # Origin-form or https:// — neither is a request this forward proxy can serve.
        raise HttpError(HTTPStatus.BAD_REQUEST, f"not an absolute http URI: {uri[:80]!r}")
    cut = min((pos for pos in (rest.find(c) for c in "/?#") if pos >= 0), default=len(rest))
    authority, path = rest[:cut], rest[cut:].partition("#")[0]
    if "@" in authority or not authority:
        raise HttpError(HTTPStatus.BAD_REQUEST, "user info or empty authority in URI")
    return authority, ("/" + path if path.startswith("?") else path or "/")


def forward_head(request: ProxyRequest, *, keep_alive: bool) -> bytes:
    """The origin-form head to send the origin: hop-by-hop fields gone, Host from the URI."""
    headers = request.head.headers
    dropped = HOP_BY_HOP | {token for token in headers.tokens("Connection")} | {"host"}
    fields = [("Host", _host_field(request.target)), *headers.without(dropped)]
    if request.upgrade is not None:
        fields += [("Connection", "upgrade"), ("Upgrade", request.upgrade)]
    elif not keep_alive:
        fields.append(("Connection", "close"))
    head = RequestHead(request.head.method, request.path, request.head.version, Headers(fields))
    return head.encode()


def _host_field(target: Target) -> str:
    return target.authority.removesuffix(f":{_HTTP_PORT}")


def client_response_head(response: ResponseHead, *, keep_alive: bool,
                         client_version: tuple[int, int]) -> bytes:
    """The origin's response head as the client gets it: hop-by-hop fields replaced by this
    hop's own `Connection` decision, except on 101 where the upgrade passes through."""
    headers = response.headers
    if response.status == HTTPStatus.SWITCHING_PROTOCOLS:
        return response.encode()
    dropped = HOP_BY_HOP | set(headers.tokens("Connection"))
    fields = list(headers.without(dropped))
    if not keep_alive:
        fields.append(("Connection", "close"))
    elif client_version < (1, 1):
        fields.append(("Connection", "keep-alive"))
    version = min(response.version, client_version)
    return ResponseHead(version, response.status, response.reason, Headers(fields)).encode()


def connection_established() -> bytes:
    return status_line(HTTPStatus.OK, "Connection established") + b"\r\n"


def proxy_auth_required(realm: str = "proxyfleet") -> bytes:
    challenge = ("Proxy-Authenticate", f'Basic realm="{realm}"')
    return error_response(HTTPStatus.PROXY_AUTHENTICATION_REQUIRED, [challenge])


def bad_gateway() -> bytes:
    return error_response(HTTPStatus.BAD_GATEWAY)


def gateway_timeout() -> bytes:
    return error_response(HTTPStatus.GATEWAY_TIMEOUT)


def bad_request() -> bytes:
    return error_response(HTTPStatus.BAD_REQUEST)
