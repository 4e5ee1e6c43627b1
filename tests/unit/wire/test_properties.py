"""Property tests: random, mutated and truncated bytes only ever give "need more data", an
event, or the protocol's own WireError; client encoders round-trip through server parsers."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from proxyfleet.wire.credentials import Credentials
from proxyfleet.wire.errors import WireError
from proxyfleet.wire.handshake import NEED_DATA, ClientHandshake, Established
from proxyfleet.wire.http_body import BodyLength, BodyScanner, Framing
from proxyfleet.wire.http_connect import HttpConnectClient, connect_request
from proxyfleet.wire.http_proxy import HttpProxyServer, ProxyRequest
from proxyfleet.wire.socks4 import Socks4Client, Socks4ConnectRequest, Socks4Reply, Socks4Server
from proxyfleet.wire.socks5 import Socks5Reply
from proxyfleet.wire.socks5_client import Socks5Client
from proxyfleet.wire.socks5_server import Socks5AuthRequest, Socks5ConnectRequest, Socks5Server
from proxyfleet.wire.target import Target

labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
names = st.lists(labels, min_size=1, max_size=4).map(".".join).filter(
    lambda name: not name.replace(".", "").isdigit())
hosts = st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(lambda a: a.compressed),
                  names)
targets = st.builds(Target.of, hosts, st.integers(1, 65535))
text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
credentials = st.builds(Credentials, text.filter(lambda t: ":" not in t), text)


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def _answer(server: Any, event: object) -> None:
    """Answer an event the way a driver that says yes to everything would."""
    if isinstance(event, Socks5AuthRequest):
        server.accept_credentials(True)
    elif isinstance(event, Socks5ConnectRequest):
        server.send_reply(Socks5Reply.SUCCEEDED)
    elif isinstance(event, Socks4ConnectRequest):
        server.send_reply(Socks4Reply.GRANTED)


def _run_server(server: Any, pieces: list[bytes]) -> list[object]:
    events: list[object] = []
    for piece in pieces:
        server.receive_data(piece)
        while (event := server.next_event()) is not NEED_DATA:
            events.append(event)
            _answer(server, event)
            if len(events) > 1000:
                break
    return events


SERVERS: list[Callable[[], Any]] = [
    HttpProxyServer,
    lambda: Socks5Server(auth_required=False),
    lambda: Socks5Server(auth_required=True),
    Socks4Server,
]
CLIENTS: list[Callable[[], ClientHandshake]] = [
    lambda: HttpConnectClient(Target("a.test", 443)),
    lambda: Socks5Client(Target("a.test", 443), Credentials("u", "p")),
    lambda: Socks4Client(Target("a.test", 443)),
]


def _only_wire_errors(run: Callable[[], object]) -> None:
    with contextlib.suppress(WireError):
        run()


@settings(max_examples=300)
@given(st.sampled_from(SERVERS), st.binary(max_size=300), st.lists(st.integers(0, 400)))
def test_servers_survive_random_bytes(make: Callable[[], Any], data: bytes,
                                      cuts: list[int]) -> None:
    _only_wire_errors(lambda: _run_server(make(), _chunks(data, cuts)))


@settings(max_examples=300)
@given(st.sampled_from(CLIENTS), st.binary(max_size=300), st.lists(st.integers(0, 400)))
def test_clients_survive_random_bytes(make: Callable[[], ClientHandshake], data: bytes,
                                      cuts: list[int]) -> None:
    def run() -> None:
        client = make()
        for piece in _chunks(data, cuts):
            client.data_to_send()
            client.receive_data(piece)
            if client.next_event() is not NEED_DATA:
                return
    _only_wire_errors(run)


VALID_SERVER_INPUT: list[tuple[Callable[[], Any], bytes]] = [
    (HttpProxyServer, b"GET http://a.test:8080/x HTTP/1.1\r\nHost: a\r\n"
                      b"Proxy-Authorization: Basic dTpw\r\nContent-Length: 0\r\n\r\n"),
    (HttpProxyServer, connect_request(Target("::1", 443), Credentials("u", "p"))),
    (lambda: Socks5Server(auth_required=True),
     b"\x05\x02\x00\x02\x01\x01u\x01p\x05\x01\x00\x03\x06a.test\x01\xbb"),
    (lambda: Socks5Server(auth_required=False),
     b"\x05\x01\x00\x05\x01\x00\x04" + bytes(15) + b"\x01\x00\x50"),
    (Socks4Server, b"\x04\x01\x00\x50\x00\x00\x00\x01user\x00a.test\x00"),
]


@settings(max_examples=300)
@given(st.sampled_from(VALID_SERVER_INPUT), st.data())
def test_mutated_valid_input_gives_events_or_wire_errors(case: tuple[Callable[[], Any], bytes],
                                                         data: st.DataObject) -> None:
    make, valid = case
    position = data.draw(st.integers(0, len(valid) - 1))
    value = data.draw(st.integers(0, 255))
    mutated = valid[:position] + bytes([value]) + valid[position + 1:]
    cuts = data.draw(st.lists(st.integers(0, len(valid))))
    _only_wire_errors(lambda: _run_server(make(), _chunks(mutated, cuts)))


@given(st.sampled_from(VALID_SERVER_INPUT), st.data())
def test_truncated_valid_input_only_needs_more_data(case: tuple[Callable[[], Any], bytes],
                                                    data: st.DataObject) -> None:
    make, valid = case
    cut = data.draw(st.integers(0, len(valid) - 1))
    server = make()
    events = _run_server(server, [valid[:cut]])
    # Whole messages inside the prefix may yield their events; the last one never does.
    full = _run_server(make(), [valid])
    assert len(events) < len(full)


@given(targets, st.one_of(st.none(), credentials), st.binary(max_size=20))
def test_http_connect_round_trip(target: Target, login: Credentials | None,
                                 early: bytes) -> None:
    client = HttpConnectClient(target, login)
    server = HttpProxyServer()
    server.receive_data(client.data_to_send() + early)
    request = server.next_event()
    assert isinstance(request, ProxyRequest)
    assert (request.target, request.credentials, server.take_rest()) == (target, login, early)
    client.receive_data(b"HTTP/1.1 200 Connection established\r\n\r\n" + early)
    assert client.next_event() == Established(None, early)


def _handshake(client: ClientHandshake, server: Any, ok_login: bool = True) -> list[object]:
    events: list[object] = []
    for _ in range(10):
        server.receive_data(client.data_to_send())
        while (event := server.next_event()) is not NEED_DATA:
            events.append(event)
            if isinstance(event, Socks5AuthRequest):
                server.accept_credentials(ok_login)
            else:
                _answer(server, event)
        client.receive_data(server.data_to_send())
        if (outcome := client.next_event()) is not NEED_DATA:
            events.append(outcome)
            return events
    raise AssertionError("handshake did not finish")


@given(targets, st.one_of(st.none(), credentials), st.booleans())
def test_socks5_round_trip(target: Target, login: Credentials | None, required: bool) -> None:
    if required and login is None:
        return
    events = _handshake(Socks5Client(target, login), Socks5Server(auth_required=required))
    assert Socks5ConnectRequest(target) in events
    assert isinstance(events[-1], Established)
    if required:
        assert Socks5AuthRequest(login) in events  # type: ignore[arg-type]


@given(targets.filter(lambda t: ":" not in t.host), text.filter(lambda t: "\0" not in t))
def test_socks4_round_trip(target: Target, userid: str) -> None:
    events = _handshake(Socks4Client(target, userid), Socks4Server())
    assert events[0] == Socks4ConnectRequest(target, userid)
    assert isinstance(events[-1], Established)


def _chunked(pieces: list[bytes]) -> bytes:
    body = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces if p)
    return body + b"0\r\n\r\n"


@given(st.lists(st.binary(min_size=1, max_size=50), max_size=8), st.lists(st.integers(0, 600)))
def test_chunked_scanner_finds_the_end_of_any_encoded_body(pieces: list[bytes],
                                                           cuts: list[int]) -> None:
    body = _chunked(pieces)
    scanner = BodyScanner(BodyLength(Framing.CHUNKED), HTTPStatus.BAD_GATEWAY)
    used = sum(scanner.feed(piece) for piece in _chunks(body + b"NEXT", cuts))
    assert scanner.done
    assert used == len(body)


@given(st.binary(max_size=200), st.lists(st.integers(0, 300)))
def test_chunked_scanner_survives_random_bytes(data: bytes, cuts: list[int]) -> None:
    scanner = BodyScanner(BodyLength(Framing.CHUNKED), HTTPStatus.BAD_GATEWAY)
    _only_wire_errors(lambda: [scanner.feed(piece) for piece in _chunks(data, cuts)])
