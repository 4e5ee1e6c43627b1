import pytest

from proxyfleet.wire import socks5
from proxyfleet.wire.credentials import Credentials
from proxyfleet.wire.errors import BadTarget, WireError
from proxyfleet.wire.handshake import NEED_DATA, Established
from proxyfleet.wire.socks5 import Socks5AuthFailed, Socks5Error, Socks5Reply
from proxyfleet.wire.socks5_client import Socks5Client
from proxyfleet.wire.socks5_server import Socks5AuthRequest, Socks5ConnectRequest, Socks5Server
from proxyfleet.wire.target import Target

CONNECT_IPV4 = bytes.fromhex("05 01 00 01 7f000001 0050")
CONNECT_IPV6 = bytes.fromhex("05 01 00 04 00000000000000000000000000000001 01bb")
CONNECT_NAME = b"\x05\x01\x00\x03\x0bexample.com\x00\x50"


def _server(greeting: bytes, *, auth_required: bool = False) -> Socks5Server:
    server = Socks5Server(auth_required=auth_required)
    server.receive_data(greeting)
    return server


@pytest.mark.parametrize(("request_bytes", "target"), [
    (CONNECT_IPV4, Target("127.0.0.1", 80)),
    (CONNECT_IPV6, Target("::1", 443)),
    (CONNECT_NAME, Target("example.com", 80)),
])
def test_no_auth_connect(request_bytes: bytes, target: Target) -> None:
    server = _server(b"\x05\x01\x00")
    assert server.next_event() is NEED_DATA
    assert server.data_to_send() == b"\x05\x00"
    server.receive_data(request_bytes + b"early")
    assert server.next_event() == Socks5ConnectRequest(target)
    assert server.take_rest() == b"early"
    server.send_reply(Socks5Reply.SUCCEEDED, Target("127.0.0.1", 4242))
    assert server.data_to_send() == bytes.fromhex("05 00 00 01 7f000001 1092")


def test_no_auth_server_prefers_no_auth_but_takes_a_login_only_client() -> None:
    server = _server(b"\x05\x01\x02")
    assert server.next_event() is NEED_DATA
    assert server.data_to_send() == b"\x05\x02"


def test_username_password_exchange() -> None:
    server = _server(b"\x05\x02\x00\x02", auth_required=True)
    server.next_event()
    assert server.data_to_send() == b"\x05\x02"
    server.receive_data(b"\x01\x05alice\x06s3cret")
    assert server.next_event() == Socks5AuthRequest(Credentials("alice", "s3cret"))
    server.accept_credentials(True)
    assert server.data_to_send() == b"\x01\x00"
    server.receive_data(CONNECT_NAME)
    assert server.next_event() == Socks5ConnectRequest(Target("example.com", 80))


def test_pipelined_greeting_login_and_request_come_out_one_at_a_time() -> None:
    server = _server(b"\x05\x01\x02\x01\x01u\x01p" + CONNECT_IPV4, auth_required=True)
    assert server.next_event() == Socks5AuthRequest(Credentials("u", "p"))
    assert server.next_event() is NEED_DATA
    server.accept_credentials(True)
    assert server.next_event() == Socks5ConnectRequest(Target("127.0.0.1", 80))
    assert server.data_to_send() == b"\x05\x02\x01\x00"


def test_refused_credentials_answer_failure() -> None:
    server = _server(b"\x05\x01\x02\x01\x01u\x01p", auth_required=True)
    server.next_event()
    with pytest.raises(Socks5AuthFailed) as caught:
        server.accept_credentials(False)
    assert caught.value.answer == b"\x01\x01"


def test_no_acceptable_method_answers_ff() -> None:
    server = _server(b"\x05\x01\x00", auth_required=True)
    with pytest.raises(Socks5AuthFailed) as caught:
        server.next_event()
    assert caught.value.answer == b"\x05\xff"


@pytest.mark.parametrize(("raw", "reply"), [
    (b"\x05\x02\x00\x00\x01" + bytes(6), Socks5Reply.COMMAND_NOT_SUPPORTED),
    (b"\x05\x03\x00\x01" + bytes(6), Socks5Reply.COMMAND_NOT_SUPPORTED),
    (b"\x05\x01\x00\x05" + bytes(6), Socks5Reply.ADDRESS_TYPE_NOT_SUPPORTED),
    (b"\x04\x01\x00\x01" + bytes(6), Socks5Reply.GENERAL_FAILURE),
    (b"\x05\x01\x00\x03\x03a b\x00\x50", Socks5Reply.HOST_UNREACHABLE),
])
def test_bad_requests_answer_their_reply_code(raw: bytes, reply: Socks5Reply) -> None:
    server = _server(b"\x05\x01\x00" + raw)
    with pytest.raises(Socks5Error) as caught:
        server.next_event()
    assert caught.value.reply is reply
    assert caught.value.answer == socks5.reply(reply)


def test_wrong_version_closes_without_an_answer() -> None:
    with pytest.raises(Socks5Error) as caught:
        _server(b"GET / HTTP/1.1\r\n").next_event()
    assert caught.value.answer == b""
    assert isinstance(caught.value, WireError)


def test_bad_auth_version_answers_failure() -> None:
    server = _server(b"\x05\x01\x02\x02\x01u\x01p", auth_required=True)
    with pytest.raises(Socks5AuthFailed) as caught:
        server.next_event()
    assert caught.value.answer == b"\x01\x01"


def test_answers_out_of_turn_are_a_programming_error() -> None:
    with pytest.raises(RuntimeError):
        Socks5Server(auth_required=False).send_reply(Socks5Reply.SUCCEEDED)


@pytest.mark.parametrize("reply", list(Socks5Reply))
def test_reply_bytes(reply: Socks5Reply) -> None:
    assert socks5.reply(reply) == bytes([5, reply, 0, 1, 0, 0, 0, 0, 0, 0])


def test_reply_with_ipv6_bound_address() -> None:
    assert socks5.reply(Socks5Reply.SUCCEEDED, Target("::1", 1)) == (
        b"\x05\x00\x00\x04" + bytes(15) + b"\x01\x00\x01")


def test_client_without_credentials() -> None:
    client = Socks5Client(Target("example.com", 80))
    assert client.data_to_send() == b"\x05\x01\x00"
    client.receive_data(b"\x05\x00")
    assert client.next_event() is NEED_DATA
    assert client.data_to_send() == CONNECT_NAME
    client.receive_data(bytes.fromhex("05 00 00 01 0a000001 1f90") + b"hi")
    assert client.next_event() == Established(Target("10.0.0.1", 8080), b"hi")


def test_client_with_credentials() -> None:
    client = Socks5Client(Target("::1", 443), Credentials("alice", "pw"))
    assert client.data_to_send() == b"\x05\x02\x02\x00"
    client.receive_data(b"\x05\x02")
    assert client.next_event() is NEED_DATA
    assert client.data_to_send() == b"\x01\x05alice\x02pw"
    client.receive_data(b"\x01\x00")
    assert client.next_event() is NEED_DATA
    assert client.data_to_send() == CONNECT_IPV6
    client.receive_data(socks5.reply(Socks5Reply.SUCCEEDED)[:5])
    assert client.next_event() is NEED_DATA
    client.receive_data(socks5.reply(Socks5Reply.SUCCEEDED)[5:])
    assert client.next_event() == Established(Target("0.0.0.0", 0))


@pytest.mark.parametrize(("replies", "error", "reply"), [
    (b"\x05\xff", Socks5AuthFailed, Socks5Reply.NOT_ALLOWED),
    (b"\x05\x02\x01\x01", Socks5AuthFailed, Socks5Reply.NOT_ALLOWED),
    (b"\x05\x00\x05\x05\x00\x01" + bytes(6), Socks5Error, Socks5Reply.CONNECTION_REFUSED),
    (b"\x05\x00\x05\x99\x00\x01" + bytes(6), Socks5Error, Socks5Reply.GENERAL_FAILURE),
    (b"\x04\x00", Socks5Error, Socks5Reply.GENERAL_FAILURE),
])
def test_client_failures_carry_the_reply(replies: bytes, error: type[Socks5Error],
                                         reply: Socks5Reply) -> None:
    client = Socks5Client(Target("a.test", 1), Credentials("u", "p"))
    client.receive_data(replies)
    with pytest.raises(error) as caught:
        client.next_event()
    assert caught.value.reply is reply


def test_client_refuses_credentials_over_255_bytes() -> None:
    client = Socks5Client(Target("a.test", 1), Credentials("u" * 256, "p"))
    client.receive_data(b"\x05\x02")
    with pytest.raises(Socks5AuthFailed):
        client.next_event()


def test_logins_of_255_bytes_go_out_and_longer_ones_are_refused() -> None:
    name, secret = "u" * 255, "p" * 255
    assert socks5.auth_request(Credentials(name, secret)) == (
        b"\x01\xff" + name.encode() + b"\xff" + secret.encode())
    for credentials in (Credentials("u" * 256, "p"), Credentials("u", "p" * 256),
                        Credentials("é" * 128, "p")):  # 256 bytes in UTF-8
        with pytest.raises(Socks5AuthFailed):
            socks5.auth_request(credentials)


def test_host_names_of_255_bytes_go_out_and_longer_ones_are_a_bad_target() -> None:
    name = ".".join(["a" * 63] * 4)[:255]
    assert socks5.connect_request(Target(name, 80)) == (
        b"\x05\x01\x00\x03\xff" + name.encode() + b"\x00\x50")
    with pytest.raises(BadTarget):
        socks5.connect_request(Target(name + "b", 80))
