import pytest

from proxyfleet.wire.credentials import Credentials
from proxyfleet.wire.errors import BadTarget
from proxyfleet.wire.handshake import NEED_DATA, Established
from proxyfleet.wire.socks4 import (
    Socks4Client,
    Socks4ConnectRequest,
    Socks4Error,
    Socks4Reply,
    Socks4Server,
    connect_request,
    reply,
)
from proxyfleet.wire.target import Target


def test_socks4_request_bytes() -> None:
    assert connect_request(Target("127.0.0.1", 80), "bob") == (
        b"\x04\x01\x00\x50\x7f\x00\x00\x01bob\x00")


def test_socks4a_request_bytes() -> None:
    assert connect_request(Target("example.com", 443)) == (
        b"\x04\x01\x01\xbb\x00\x00\x00\x01\x00example.com\x00")


def test_socks4_cannot_carry_ipv6() -> None:
    with pytest.raises(BadTarget):
        connect_request(Target("::1", 80))


@pytest.mark.parametrize(("target", "userid"), [
    (Target("127.0.0.1", 80), "bob"), (Target("example.com", 443), ""),
    (Target("0.0.0.0", 1), "x")])
def test_round_trip_client_to_server(target: Target, userid: str) -> None:
    server = Socks4Server()
    raw = connect_request(target, userid)
    for byte in raw[:-1]:
        server.receive_data(bytes([byte]))
        assert server.next_event() is NEED_DATA
    server.receive_data(raw[-1:] + b"early")
    assert server.next_event() == Socks4ConnectRequest(target, userid)
    assert server.take_rest() == b"early"


def test_server_reply_bytes() -> None:
    server = Socks4Server()
    server.send_reply(Socks4Reply.GRANTED, Target("10.0.0.1", 8080))
    assert server.data_to_send() == b"\x00\x5a\x1f\x90\x0a\x00\x00\x01"
    assert reply(Socks4Reply.REJECTED, Target("::1", 1)) == b"\x00\x5b" + bytes(6)


@pytest.mark.parametrize(("raw", "answer"), [
    (b"\x05\x01\x00\x50\x7f\x00\x00\x01\x00", b""),
    (b"\x04\x02\x00\x50\x7f\x00\x00\x01\x00", reply(Socks4Reply.REJECTED)),
    (b"\x04\x01\x00\x50\x7f\x00\x00\x01" + b"u" * 300, reply(Socks4Reply.REJECTED)),
    (b"\x04\x01\x00\x50\x00\x00\x00\x01\x00bad name\x00", reply(Socks4Reply.REJECTED)),
])
def test_server_refusals(raw: bytes, answer: bytes) -> None:
    server = Socks4Server()
    server.receive_data(raw)
    with pytest.raises(Socks4Error) as caught:
        server.next_event()
    assert caught.value.answer == answer


def test_client_established_and_refused() -> None:
    client = Socks4Client(Target("example.com", 80), "me")
    assert client.data_to_send().endswith(b"me\x00example.com\x00")
    client.receive_data(b"\x00\x5a\x00\x00\x00\x00")
    assert client.next_event() is NEED_DATA
    client.receive_data(b"\x00\x00data")
    assert client.next_event() == Established(Target("0.0.0.0", 0), b"data")
    refused = Socks4Client(Target("1.2.3.4", 80))
    refused.receive_data(b"\x00\x5c" + bytes(6))
    with pytest.raises(Socks4Error) as caught:
        refused.next_event()
    assert caught.value.reply is Socks4Reply.NO_IDENTD
    odd = Socks4Client(Target("1.2.3.4", 80))
    odd.receive_data(b"\x00\x01" + bytes(6))
    with pytest.raises(Socks4Error) as caught:
        odd.next_event()
    assert caught.value.reply is Socks4Reply.REJECTED


@pytest.mark.parametrize(("userid", "login"), [
    ("", None), ("alice", None), ("alice:s3cret", ("alice", "s3cret")),
    ("user-country-us:pp_key", ("user-country-us", "pp_key")), ("a::b", ("a", ":b")),
    (":", ("", "")),
])
def test_a_login_travels_in_the_user_id(userid: str, login: tuple[str, str] | None) -> None:
    server = Socks4Server()
    server.receive_data(b"\x04\x01\x00\x50\x00\x00\x00\x01" + userid.encode()
                        + b"\x00example.com\x00")
    request = server.next_event()
    assert isinstance(request, Socks4ConnectRequest)
    assert request.credentials == (None if login is None else Credentials(*login))
