from http import HTTPStatus

import pytest

from proxyfleet.wire.credentials import Credentials, encode_basic
from proxyfleet.wire.handshake import NEED_DATA
from proxyfleet.wire.http_head import HttpError, parse_request_head, parse_response_head
from proxyfleet.wire.http_proxy import (
    HttpProxyServer,
    ProxyRequest,
    RequestKind,
    bad_gateway,
    client_response_head,
    connection_established,
    forward_head,
    proxy_auth_required,
)
from proxyfleet.wire.target import Target


def _parse(raw: bytes) -> ProxyRequest:
    server = HttpProxyServer()
    server.receive_data(raw)
    event = server.next_event()
    assert isinstance(event, ProxyRequest)
    return event


@pytest.mark.parametrize(("authority", "target"), [
    ("example.com:443", Target("example.com", 443)),
    ("93.184.216.34:8443", Target("93.184.216.34", 8443)),
    ("[2606:2800:220:1::]:443", Target("2606:2800:220:1::", 443)),
])
def test_connect_targets(authority: str, target: Target) -> None:
    request = _parse(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
    assert request.kind is RequestKind.TUNNEL
    assert request.target == target
    assert request.credentials is None


def test_connect_keeps_early_tunnel_bytes() -> None:
    server = HttpProxyServer()
    server.receive_data(b"CONNECT a.test:443 HTTP/1.1\r\n\r\n\x16\x03\x01")
    assert isinstance(server.next_event(), ProxyRequest)
    assert server.take_rest() == b"\x16\x03\x01"


def test_need_data_until_the_head_ends() -> None:
    server = HttpProxyServer()
    server.receive_data(b"CONNECT a.test:443 HTTP/1.1\r\n")
    assert server.next_event() is NEED_DATA


@pytest.mark.parametrize(("uri", "target", "path"), [
    ("http://example.com/a?b=1", Target("example.com", 80), "/a?b=1"),
    ("http://example.com", Target("example.com", 80), "/"),
    ("http://example.com?q", Target("example.com", 80), "/?q"),
    ("HTTP://Example.com:8080/x#frag", Target("example.com", 8080), "/x"),
    ("http://[::1]:8080/", Target("::1", 8080), "/"),
    ("http://127.0.0.1/", Target("127.0.0.1", 80), "/"),
])
def test_absolute_uri_forwards(uri: str, target: Target, path: str) -> None:
    request = _parse(f"GET {uri} HTTP/1.1\r\nHost: wrong\r\n\r\n".encode())
    assert request.kind is RequestKind.FORWARD
    assert (request.target, request.path) == (target, path)


@pytest.mark.parametrize("line", [
    b"GET /origin-form HTTP/1.1", b"GET https://example.com/ HTTP/1.1",
    b"GET http://user@example.com/ HTTP/1.1", b"GET http:///x HTTP/1.1",
    b"CONNECT example.com HTTP/1.1", b"CONNECT example.com:0 HTTP/1.1",
    b"CONNECT [::1 HTTP/1.1",
])
def test_refuses_what_a_forward_proxy_cannot_serve(line: bytes) -> None:
    with pytest.raises(HttpError) as caught:
        _parse(line + b"\r\n\r\n")
    assert caught.value.status == HTTPStatus.BAD_REQUEST
    assert caught.value.answer.startswith(b"HTTP/1.1 400 ")


def test_reads_basic_proxy_credentials() -> None:
    value = encode_basic(Credentials("alice", "s3cret"))
    request = _parse(f"CONNECT a.test:1 HTTP/1.1\r\nProxy-Authorization: {value}\r\n\r\n".encode())
    assert request.credentials == Credentials("alice", "s3cret")


def test_malformed_proxy_credentials_are_a_bad_request() -> None:
    with pytest.raises(HttpError) as caught:
        _parse(b"CONNECT a.test:1 HTTP/1.1\r\nProxy-Authorization: Basic !!\r\n\r\n")
    assert caught.value.status == HTTPStatus.BAD_REQUEST


@pytest.mark.parametrize(("version", "connection", "keep"), [
    ("1.1", "", True), ("1.1", "Connection: close\r\n", False),
    ("1.0", "", False), ("1.0", "Connection: keep-alive\r\n", True),
    ("1.0", "Proxy-Connection: Keep-Alive\r\n", True),
])
def test_keep_alive_follows_the_version_and_connection(version: str, connection: str,
                                                       keep: bool) -> None:
    raw = f"GET http://a/ HTTP/{version}\r\n{connection}\r\n".encode()
    assert _parse(raw).keep_alive is keep


def test_forward_head_is_origin_form_without_hop_by_hop_fields() -> None:
    request = _parse(
        b"POST http://example.com:8080/p?q HTTP/1.1\r\nHost: evil\r\n"
        b"Proxy-Authorization: Basic YTpi\r\nProxy-Connection: keep-alive\r\n"
        b"Connection: keep-alive, X-Private\r\nX-Private: 1\r\nKeep-Alive: 300\r\n"
        b"TE: trailers\r\nTrailer: X\r\nContent-Length: 3\r\nAccept: */*\r\n\r\n")
    assert forward_head(request, keep_alive=True) == (
        b"POST /p?q HTTP/1.1\r\nHost: example.com:8080\r\nContent-Length: 3\r\n"
        b"Accept: */*\r\n\r\n")


def test_forward_head_drops_the_default_port_and_says_close_when_closing() -> None:
    request = _parse(b"GET http://example.com:80/ HTTP/1.1\r\n\r\n")
    assert forward_head(request, keep_alive=False) == (
        b"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")


def test_forward_head_passes_an_upgrade_through() -> None:
    request = _parse(b"GET http://a/ws HTTP/1.1\r\nConnection: Upgrade\r\n"
                     b"Upgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n")
    assert request.upgrade == "websocket"
    assert forward_head(request, keep_alive=True) == (
        b"GET /ws HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Key: k\r\nConnection: upgrade\r\n"
        b"Upgrade: websocket\r\n\r\n")


def test_client_response_head_replaces_hop_by_hop_fields() -> None:
    response = parse_response_head(
        b"HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\n"
        b"Content-Length: 2\r\n\r\n")
    assert client_response_head(response, keep_alive=True, client_version=(1, 1)) == (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
    assert client_response_head(response, keep_alive=False, client_version=(1, 1)) == (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n")
    assert client_response_head(response, keep_alive=True, client_version=(1, 0)) == (
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n")


def test_client_response_head_keeps_a_switch_of_protocols() -> None:
    raw = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    assert client_response_head(parse_response_head(raw), keep_alive=False,
                                client_version=(1, 1)) == raw


def test_the_proxys_own_answers() -> None:
    assert connection_established() == b"HTTP/1.1 200 Connection established\r\n\r\n"
    challenge = proxy_auth_required("fleet")
    assert challenge.startswith(b"HTTP/1.1 407 Proxy Authentication Required\r\n")
    assert b'Proxy-Authenticate: Basic realm="fleet"\r\n' in challenge
    assert bad_gateway().startswith(b"HTTP/1.1 502 Bad Gateway\r\n")


def test_parses_pipelined_requests_in_turn() -> None:
    server = HttpProxyServer()
    server.receive_data(b"GET http://a/1 HTTP/1.1\r\n\r\nGET http://a/2 HTTP/1.1\r\n\r\n")
    paths = []
    while (event := server.next_event()) is not NEED_DATA:
        assert isinstance(event, ProxyRequest)
        paths.append(event.path)
    assert paths == ["/1", "/2"]
    assert parse_request_head(b"GET / HTTP/1.1\r\n\r\n").target == "/"


@pytest.mark.parametrize("start", [b"\x16\x03\x01\x02\x00", b"\x00\x00", b"G\xffT", b"\r\n\x01"])
def test_refuses_what_cannot_become_a_request_at_once(start: bytes) -> None:
    server = HttpProxyServer()
    server.receive_data(start)
    with pytest.raises(HttpError) as caught:
        server.next_event()
    assert caught.value.status == HTTPStatus.BAD_REQUEST


@pytest.mark.parametrize("start", [b"", b"G", b"GET", b"GET ", b"\r\n", b"\r\nCONNECT x"])
def test_waits_for_what_may_still_become_a_request(start: bytes) -> None:
    server = HttpProxyServer()
    server.receive_data(start)
    assert server.next_event() is NEED_DATA


def _login(user: str, password: str) -> bytes:
    return b"Proxy-Authorization: " + encode_basic(Credentials(user, password)).encode() + b"\r\n"


def test_each_request_on_a_connection_carries_its_own_login() -> None:
    server = HttpProxyServer()
    heads = [b"GET http://a/1 HTTP/1.1\r\nHost: a\r\n" + _login("alice", "one") + b"\r\n",
             b"GET http://a/2 HTTP/1.1\r\nHost: a\r\n" + _login("bob", "two") + b"\r\n",
             b"GET http://a/3 HTTP/1.1\r\nHost: a\r\n\r\n",
             b"GET http://a/4 HTTP/1.1\r\nHost: a\r\n" + _login("alice", "one") + b"\r\n",
             b"GET http://a/5 HTTP/1.1\r\nHost: a\r\n" + _login("alice", "other") + b"\r\n"]
    seen = []
    for head in heads:  # one at a time, as a kept-alive client sends them
        server.receive_data(head)
        event = server.next_event()
        assert isinstance(event, ProxyRequest)
        seen.append(event.credentials)
    assert seen == [Credentials("alice", "one"), Credentials("bob", "two"), None,
                    Credentials("alice", "one"), Credentials("alice", "other")]
    # The same through the whole-request fast path.
    for head, credentials in zip(heads, seen, strict=True):
        request = server.whole_plain_request(head)
        if request is not None:
            assert request.credentials == credentials


def test_an_upstream_challenge_never_reaches_the_client() -> None:
    response = parse_response_head(
        b"HTTP/1.1 407 Proxy Authentication Required\r\n"
        b'Proxy-Authenticate: Basic realm="upstream"\r\nContent-Length: 0\r\n\r\n')
    head = client_response_head(response, keep_alive=True, client_version=(1, 1))
    assert head == b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"
