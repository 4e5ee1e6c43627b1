"""The server side of an HTTP/1 proxy: `HttpProxyServer` turns the bytes a client sends into
`ProxyRequest`s (CONNECT tunnels and absolute-URI forwards), and the functions here build what
goes on: the origin-form head to forward, the response head to hand back, and the proxy's own
answers (200 Connection established, 407, 502…).

Standard library only; imports nothing of the project.
"""

from __future__ import annotations

import enum
import re
from http import HTTPStatus

from proxyfleet.wire.credentials import BadCredentials, Credentials, decode_basic
from proxyfleet.wire.errors import BadTarget
from proxyfleet.wire.handshake import NEED_DATA, NeedData
from proxyfleet.wire.http_body import NO_BODY, BodyLength, request_body
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
from proxyfleet.wire.http_plain import PlainRequest, plain_request
from proxyfleet.wire.target import Target, parse_authority

# Hop-by-hop fields (RFC 9110 §7.6.1) plus the proxy's own; never passed to the next hop.
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-connection", "proxy-authorization",
    "proxy-authenticate", "te", "trailer", "upgrade",
})
HTTP_PORT = 80
_METHOD_START = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class RequestKind(enum.Enum):
    TUNNEL = "CONNECT"
    FORWARD = "absolute-URI forward"


class ProxyRequest:
    """One request a proxy client made, with where it goes and who claims to make it.

    `head` is the parsed head; a request read by the plain-head fast path (`http_plain`)
    parses it only if someone asks, and carries its origin-form head ready-made.
    """

    __slots__ = ("_head", "_raw", "body", "credentials", "keep_alive", "kind", "method",
                 "origin_head", "path", "target", "upgrade", "version")

    def __init__(self, kind: RequestKind, method: str, version: tuple[int, int],
                 target: Target, path: str, credentials: Credentials | None,
                 keep_alive: bool, upgrade: str | None, body: BodyLength,
                 head: RequestHead | None, raw: bytes = b"",
                 origin_head: bytes | None = None) -> None:
        # Positional on purpose: the plain path makes one of these per forwarded request.
        self.kind = kind
        self.method = method
        self.version = version
        self.target = target
        self.path = path
        self.credentials = credentials
        self.keep_alive = keep_alive
        """Whether the client wants its connection kept after this exchange."""
        self.upgrade = upgrade
        """The protocol asked for by `Connection: upgrade` + `Upgrade`, passed through."""
        self.body = body
        self.origin_head = origin_head
        """The head to send the origin, if made already (for `keep_alive` as it is)."""
        self._head = head
        self._raw = raw
        """The head's bytes, parsed into `head` only if someone asks (when `head` is None)."""

    @property
    def head(self) -> RequestHead:
        if self._head is None:
            self._head = parse_request_head(self._raw)
        return self._head

    def __repr__(self) -> str:
        return f"ProxyRequest({self.kind.name} {self.method} {self.target} {self.path!r})"


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
        # The last plain request's authority and login, as sent and as understood: a client
        # on a kept-alive connection asks the same origin with the same login time and again.
        self._route: tuple[bytes, Target, bytes] | None = None
        self._login: tuple[bytes, Credentials | None] | None = None

    def receive_data(self, data: bytes) -> None:
        self._reader.receive_data(data)

    def next_event(self) -> ProxyRequest | NeedData:
        reader = self._reader
        head = reader.next_head()
        if head is NEED_DATA:
            if reader.pending:
                _refuse_non_http_start(reader.started)
            return NEED_DATA
        plain = plain_request(head)
        if plain is None:
            return proxy_request(parse_request_head(head))
        return self._plain_proxy_request(head, plain)

    def take_rest(self) -> bytes:
        return self._reader.take_rest()

    @property
    def pending(self) -> bool:
        """Whether bytes past the last request are buffered."""
        return self._reader.pending

    def whole_plain_request(self, data: bytes) -> ProxyRequest | None:
        """The request `data` holds when it is exactly one plain head (`http_plain`) and
        nothing is buffered before it: `next_event` after `receive_data(data)` would give
        the same, this spares the buffer. None, with nothing read, for anything else."""
        if self._reader.pending or not data.endswith(b"\r\n\r\n"):
            return None
        if data.find(b"\r\n\r\n") != len(data) - 4 or len(data) > self._reader.limit:
            return None
        plain = plain_request(data)
        return None if plain is None else self._plain_proxy_request(data, plain)

    def _plain_proxy_request(self, head: bytes, plain: PlainRequest) -> ProxyRequest:
        route = self._route
        if route is None or route[0] != plain.authority:
            target = forward_target(plain.authority.decode("latin-1"), HTTP_PORT)
            route = self._route = (plain.authority, target,
                                   host_field(target).encode("latin-1"))
        credentials = None
        if plain.login is not None:
            login = self._login
            if login is None or login[0] != plain.login:
                login = self._login = (plain.login,
                                       proxy_credentials(plain.login.decode("latin-1")))
            credentials = login[1]
        origin_head = b"%s %s HTTP/1.1\r\nHost: %s\r\n%s%s\r\n" % (
            plain.method, plain.path, route[2], plain.fields,
            b"" if plain.keep_alive else b"Connection: close\r\n")
        return ProxyRequest(RequestKind.FORWARD, plain.method.decode("latin-1"), (1, 1),
                            route[1], plain.path.decode("latin-1"), credentials,
                            plain.keep_alive, None, plain.body, None, head, origin_head)


def _refuse_non_http_start(start: bytes) -> None:
    # A request starts with a method token (after stray line ends); refusing anything else
    # at once spares a TLS hello or binary noise the wait for a blank line that never comes.
    method = start.lstrip(b"\r\n").partition(b" ")[0]
    if method and not _METHOD_START.fullmatch(method):
        raise HttpError(HTTPStatus.BAD_REQUEST, f"not an HTTP request: {start!r}")


def proxy_request(head: RequestHead) -> ProxyRequest:
    headers = head.headers
    value = headers.get("Proxy-Authorization")
    credentials = None if value is None else proxy_credentials(value)
    keep_alive = wants_keep_alive(head.version, headers)
    upgrade = headers.get("Upgrade") if "upgrade" in headers.tokens("Connection") else None
    if head.method == "CONNECT":
        # A tunnel's bytes are the tunnel's: no body framing applies.
        return ProxyRequest(RequestKind.TUNNEL, head.method, head.version,
                            forward_target(head.target, None), "", credentials,
                            keep_alive=keep_alive, upgrade=upgrade, body=NO_BODY, head=head)
    authority, path = _split_absolute_uri(head.target)
    return ProxyRequest(RequestKind.FORWARD, head.method, head.version,
                        forward_target(authority, HTTP_PORT), path, credentials,
                        keep_alive=keep_alive, upgrade=upgrade, body=request_body(head),
                        head=head)


def proxy_credentials(value: str) -> Credentials | None:
    """The login in a `Proxy-Authorization` value (None for a scheme other than Basic); 400
    when a Basic one is malformed."""
    try:
        return decode_basic(value)
    except BadCredentials as exc:
        raise HttpError(HTTPStatus.BAD_REQUEST, str(exc)) from exc


def forward_target(authority: str, default_port: int | None) -> Target:
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
    if keep_alive is request.keep_alive and request.origin_head is not None:
        return request.origin_head
    headers = request.head.headers
    dropped = HOP_BY_HOP | {token for token in headers.tokens("Connection")} | {"host"}
    fields = [("Host", host_field(request.target)), *headers.without(dropped)]
    if request.upgrade is not None:
        fields += [("Connection", "upgrade"), ("Upgrade", request.upgrade)]
    elif not keep_alive:
        fields.append(("Connection", "close"))
    head = RequestHead(request.head.method, request.path, request.head.version, Headers(fields))
    return head.encode()


def host_field(target: Target) -> str:
    return target.authority.removesuffix(f":{HTTP_PORT}")


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
    return _CONNECTION_ESTABLISHED  # the same bytes for every tunnel: made once


_CONNECTION_ESTABLISHED = status_line(HTTPStatus.OK, "Connection established") + b"\r\n"


def proxy_auth_required(realm: str = "proxyfleet") -> bytes:
    challenge = ("Proxy-Authenticate", f'Basic realm="{realm}"')
    return error_response(HTTPStatus.PROXY_AUTHENTICATION_REQUIRED, [challenge])


def bad_gateway(reason: str | None = None) -> bytes:
    return error_response(HTTPStatus.BAD_GATEWAY, reason=reason)


def gateway_timeout() -> bytes:
    return error_response(HTTPStatus.GATEWAY_TIMEOUT)


def bad_request() -> bytes:
    return error_response(HTTPStatus.BAD_REQUEST)
