"""The plain-head fast path against the general parser: for every head it takes, it must find
what the general path finds and send on what means the same; every head it declines, the
general path still serves (or refuses) as before."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from proxyfleet.wire.credentials import Credentials, encode_basic
from proxyfleet.wire.errors import WireError
from proxyfleet.wire.handshake import NEED_DATA
from proxyfleet.wire.http_body import BodyLength, Framing, response_body
from proxyfleet.wire.http_head import (
    HttpError,
    ResponseHead,
    parse_request_head,
    parse_response_head,
)
from proxyfleet.wire.http_plain import (
    PlainResponse,
    plain_request,
    plain_response,
    whole_plain_response,
)
from proxyfleet.wire.http_proxy import (
    HttpProxyServer,
    ProxyRequest,
    client_response_head,
    forward_head,
    proxy_request,
    wants_keep_alive,
)

TOKEN = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,12}", fullmatch=True)
VALUE = st.from_regex(r"[ \t]?[\x21-\x7e]([\x20-\x7e]{0,20}[\x21-\x7e])?[ \t]?", fullmatch=True)
SPECIAL_NAMES = ["Host", "host", "Content-Length", "content-length", "Connection",
                 "Proxy-Connection", "Keep-Alive", "Transfer-Encoding", "TE", "Trailer",
                 "Upgrade", "Proxy-Authorization", "Proxy-Authenticate", "Proxy-Other"]
SPECIAL_VALUES = ["0", "12", "x", "1, 1", "keep-alive", "Keep-Alive", "close", "close", "chunked",
                  "websocket", encode_basic(Credentials("alice", "s3cret")), "Basic !!",
                  "Bearer t", "upgrade", "example.com"]
SPECIAL_LOWER = {name.lower() for name in SPECIAL_NAMES} | {"proxy-authenticate"}
FIELD = st.one_of(st.tuples(TOKEN, VALUE),
                  st.tuples(st.sampled_from(SPECIAL_NAMES), st.sampled_from(SPECIAL_VALUES)))
FIELD_LINE = st.one_of(FIELD.map(lambda f: f"{f[0]}:{f[1]}\r\n"),
                       st.sampled_from(["Bad Name: x\r\n", "X-Fold: a\r\n b\r\n", "NoColon\r\n",
                                        "X-Nul: a\x00b\r\n", "X-Bare: lf\n"]))
METHOD = st.sampled_from(["GET", "POST", "HEAD", "PUT", "DELETE", "G@T", "OPTIONS"])
AUTHORITY = st.sampled_from(["example.com", "Example.COM:8080", "127.0.0.1", "127.0.0.1:80",
                             "10.0.0.1:0", "a_b.test:65535", "[::1]:8080", "user@host",
                             "bad host", "host:99999", "xn--bcher-kva.example"])
PATH = st.sampled_from(["", "/", "/a?b=1", "/x#frag", "?q", "/p%20q", "/%%", "/a b"])
VERSION = st.sampled_from(["HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "http/1.1"])
SCHEME = st.sampled_from(["http://", "http://", "HTTP://", "https://"])


@st.composite
def request_heads(draw: st.DrawFn) -> bytes:
    fields = "".join(draw(st.lists(FIELD_LINE, max_size=6)))
    line = (f"{draw(METHOD)} {draw(SCHEME)}{draw(AUTHORITY)}{draw(PATH)} {draw(VERSION)}")
    return f"{line}\r\n{fields}\r\n".encode("latin-1")


@st.composite
def response_heads(draw: st.DrawFn) -> bytes:
    """Half of them plain-looking (ordinary fields and a length), half anything."""
    if draw(st.booleans()):
        lines = [f"{name}:{value}\r\n" for name, value in draw(st.lists(st.tuples(
            TOKEN.filter(lambda t: t.lower() not in SPECIAL_LOWER), VALUE), max_size=5))]
        lines.insert(draw(st.integers(0, len(lines))),
                     f"Content-Length:{draw(st.sampled_from(['0', ' 12 ', '7', '99']))}\r\n")
        if draw(st.booleans()):
            lines.insert(draw(st.integers(0, len(lines))), "Connection: close\r\n")
        fields, version = "".join(lines), "HTTP/1.1"
    else:
        fields = "".join(draw(st.lists(FIELD_LINE, max_size=6)))
        version = draw(VERSION)
    status = draw(st.sampled_from(["200 OK", "204 No Content", "304 Not Modified", "101 Up",
                                   "100 Continue", "404 Not Found", "099 Odd", "500 "]))
    return f"{version} {status}\r\n{fields}\r\n".encode("latin-1")


def _general(head: bytes) -> ProxyRequest | WireError:
    try:
        return proxy_request(parse_request_head(head))
    except WireError as exc:
        return exc


def _via_server(head: bytes) -> ProxyRequest | WireError:
    server = HttpProxyServer()
    server.receive_data(head)
    try:
        event = server.next_event()
    except WireError as exc:
        return exc
    assume(event is not NEED_DATA)  # a bare LF before the CRLF does not end a head
    assert isinstance(event, ProxyRequest)
    return event


def _meaning(head: bytes) -> tuple[object, ...]:
    """A request head as the origin understands it: line and fields, names folded."""
    parsed = parse_request_head(head)
    fields = sorted((name.lower(), value) for name, value in parsed.headers)
    return parsed.method, parsed.target, parsed.version, fields


@settings(max_examples=600, deadline=None)
@given(request_heads())
@example(b"GET http://example.com/a HTTP/1.1\r\nHost: x\r\nProxy-Connection: keep-alive\r\n"
         b"Accept: */*\r\n\r\n")
def test_plain_requests_mean_what_the_general_parser_finds(head: bytes) -> None:
    general, fast = _general(head), _via_server(head)
    if isinstance(general, WireError):
        # Whatever the general path refuses, the server refuses with the same status.
        assert isinstance(fast, HttpError) and isinstance(general, HttpError)
        assert fast.status == general.status
        return
    assert isinstance(fast, ProxyRequest), fast
    same = ("kind", "method", "version", "target", "path", "credentials", "keep_alive",
            "upgrade", "body")
    assert {key: getattr(fast, key) for key in same} == {
        key: getattr(general, key) for key in same}
    for keep in (True, False):
        assert _meaning(forward_head(fast, keep_alive=keep)) == _meaning(
            forward_head(general, keep_alive=keep))


@settings(max_examples=600, deadline=None)
@given(response_heads(), st.sampled_from(["GET", "HEAD", "POST"]))
@example(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n", "GET")
def test_plain_responses_pass_unchanged_where_the_general_path_changes_nothing(
        head: bytes, method: str) -> None:
    fast = plain_response(head, method)
    if fast is None:
        return
    response = parse_response_head(head)  # never raises for a head the fast path took
    assert fast.status == response.status
    assert fast.body == response_body(response, method)
    assert fast.closes is not wants_keep_alive(response.version, response.headers)
    # The general path would send the client the same head: nothing dropped or added but
    # the `Connection` field, which says the same.
    rebuilt = parse_response_head(client_response_head(response, keep_alive=not fast.closes,
                                                       client_version=(1, 1)))

    def fields(head: ResponseHead) -> list[tuple[str, str]]:
        return sorted((name.lower(), value.lower() if name.lower() == "connection" else value)
                      for name, value in head.headers)

    assert (rebuilt.version, rebuilt.status, rebuilt.reason, fields(rebuilt)) == (
        response.version, response.status, response.reason, fields(response))


def test_the_common_shapes_take_the_fast_path() -> None:
    login = encode_basic(Credentials("alice", "s3cret"))
    plain = plain_request(
        f"POST http://example.com:8080/p?q=1 HTTP/1.1\r\nHost: example.com:8080\r\n"
        f"Proxy-Authorization: {login}\r\nProxy-Connection: Keep-Alive\r\n"
        f"Content-Length: 3\r\nAccept: */*\r\n\r\n".encode())
    assert plain is not None
    assert plain.body == BodyLength(Framing.LENGTH, 3)
    assert plain.fields == b"Content-Length: 3\r\nAccept: */*\r\n"
    assert plain_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", "GET") == (
        PlainResponse(200, BodyLength(Framing.LENGTH, 2), closes=False))
    assert plain_response(b"HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n", "GET") == (
        PlainResponse(304, BodyLength(Framing.EMPTY), closes=False))
    assert plain_response(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n"
                          b"\r\n", "GET") == (
        PlainResponse(200, BodyLength(Framing.LENGTH, 1), closes=True))
    closing = plain_request(b"GET http://a/ HTTP/1.1\r\nConnection: close\r\nX: 1\r\n\r\n")
    assert closing is not None and not closing.keep_alive and closing.fields == b"X: 1\r\n"


@pytest.mark.parametrize("head", [
    b"GET http://a/ HTTP/1.0\r\n\r\n",
    b"GET http://a/ HTTP/1.1\r\nConnection: keep-alive\r\n\r\n",
    b"GET http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"GET http://[::1]/ HTTP/1.1\r\n\r\n",
    b"GET http://a/ HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
    b"GET http://a/ HTTP/1.1\nHost: a\n\n",
])
def test_anything_unusual_is_left_to_the_general_path(head: bytes) -> None:
    assert plain_request(head) is None
    server = HttpProxyServer()
    server.receive_data(head)
    served = server.next_event()
    assert isinstance(served, ProxyRequest) and served.origin_head is None


@pytest.mark.parametrize("head", [
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\nContent-Length: 1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n\r\n",  # until close
    b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
])
def test_unusual_responses_are_left_to_the_general_path(head: bytes) -> None:
    assert plain_response(head, "GET") is None


def test_a_malformed_login_is_refused_on_the_fast_path_too() -> None:
    refused = _via_server(b"GET http://a/ HTTP/1.1\r\nProxy-Authorization: Basic !!\r\n\r\n")
    assert isinstance(refused, HttpError)
    assert refused.status == HTTPStatus.BAD_REQUEST


SAME_FIELDS = ("kind", "method", "version", "target", "path", "credentials", "keep_alive",
               "upgrade", "body", "origin_head")


@settings(max_examples=400, deadline=None)
@given(st.lists(request_heads(), min_size=1, max_size=5))
@example([b"GET http://a/ HTTP/1.1\r\nProxy-Authorization: " + encode_basic(
    Credentials("alice", "s3cret")).encode() + b"\r\n\r\n",
    b"GET http://b/ HTTP/1.1\r\nProxy-Authorization: Basic !!\r\n\r\n",
    b"GET http://a/ HTTP/1.1\r\n\r\n"])
def test_a_whole_plain_request_is_what_the_reader_finds_one_after_another(
        heads: list[bytes]) -> None:
    """The one-read shortcut and its memory of the last origin and login agree with reading
    the same heads, in the same order, through the buffer."""
    whole, reader = HttpProxyServer(), HttpProxyServer()
    for head in heads:
        reader.receive_data(head)
        try:
            expected: object = reader.next_event()
        except WireError as exc:
            expected = exc
        if not isinstance(expected, ProxyRequest):
            reader = HttpProxyServer()  # the head stays buffered: start afresh
        try:
            got: object = whole.whole_plain_request(head)
        except WireError as exc:
            got = exc
        if got is None:  # left to the general path
            continue
        if isinstance(expected, HttpError):
            assert isinstance(got, HttpError) and got.status == expected.status
            continue
        assert isinstance(expected, ProxyRequest) and isinstance(got, ProxyRequest)
        assert {key: getattr(got, key) for key in SAME_FIELDS} == {
            key: getattr(expected, key) for key in SAME_FIELDS}


def test_only_exactly_one_whole_head_takes_the_one_read_shortcut() -> None:
    head = b"GET http://a/ HTTP/1.1\r\nAccept: */*\r\n\r\n"
    server = HttpProxyServer()
    assert server.whole_plain_request(head[:-2]) is None  # not whole yet
    assert server.whole_plain_request(head + b"GET") is None  # more follows
    assert server.whole_plain_request(head + head) is None  # pipelined
    taken = server.whole_plain_request(head)
    assert isinstance(taken, ProxyRequest) and taken.target.host == "a"
    server.receive_data(b"GET http://b/")
    assert server.whole_plain_request(head) is None  # bytes before it are buffered


@settings(max_examples=400, deadline=None)
@given(response_heads(), st.sampled_from(["GET", "HEAD", "POST"]), st.integers(0, 14))
@example(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", "GET", 2)
@example(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n", "GET", 0)
def test_a_whole_plain_response_is_one_plain_head_and_exactly_its_body(
        head: bytes, method: str, size: int) -> None:
    data = head + b"x" * size
    whole = whole_plain_response(data, method)
    plain = plain_response(head, method)
    if plain is None or plain.body.length != size:
        assert whole is None  # not plain, or more or less than the body
    else:
        assert whole is plain.closes
