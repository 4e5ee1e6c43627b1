"""The checker's client handshake bytes: HTTP CONNECT and requests, SOCKS4(a), SOCKS5, RFC 1929."""

from __future__ import annotations

import base64
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxyfleet.pool.checkers import handshakes as hs
from proxyfleet.pool.checkers.errors import HandshakeError, ProxyAuthRejected

# --- HTTP ---------------------------------------------------------------------------------


def test_basic_proxy_authorization() -> None:
    assert hs.basic_proxy_authorization("user", "pass") == "Basic dXNlcjpwYXNz"


def test_basic_proxy_authorization_without_password() -> None:
    token = hs.basic_proxy_authorization("user", None).removeprefix("Basic ")
    assert base64.b64decode(token) == b"user:"


def test_http_request_bytes() -> None:
    got = hs.http_request("GET", "http://j:8/judge", [("Host", "j:8"), ("Connection", "close")])
    assert got == b"GET http://j:8/judge HTTP/1.1\r\nHost: j:8\r\nConnection: close\r\n\r\n"


def test_connect_request_without_credentials() -> None:
    assert hs.http_connect_request("127.0.0.1", 8080, None) == (
        b"CONNECT 127.0.0.1:8080 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
    )


def test_connect_request_with_credentials() -> None:
    got = hs.http_connect_request("judge.example", 80, "Basic abc")
    assert got == (
        b"CONNECT judge.example:80 HTTP/1.1\r\nHost: judge.example:80\r\n"
        b"Proxy-Authorization: Basic abc\r\n\r\n"
    )


def test_connect_request_brackets_ipv6() -> None:
    assert hs.http_connect_request("::1", 80, None).startswith(b"CONNECT [::1]:80 HTTP/1.1\r\n")


def test_parse_http_head() -> None:
    head = b"HTTP/1.1 200 Connection established\r\nVia: 1.1 x\r\nX-Empty:"
    assert hs.parse_http_head(head) == (200, "Connection established",
                                        [("Via", "1.1 x"), ("X-Empty", "")])


def test_parse_http_head_without_reason() -> None:
    assert hs.parse_http_head(b"HTTP/1.0 200") == (200, "", [])


@pytest.mark.parametrize(
    "head",
    [b"SSH-2.0-OpenSSH_8.9", b"HTTP/2 200 OK", b"HTTP/1.1 20 OK", b"HTTP/1.1 abc OK", b"",
     b"HTTP/1.1 \xb200 OK",  # "\xb2" is "²", a digit to str.isdigit but not to int
     b"HTTP/1.1 200 OK\r\nno colon here", b"HTTP/1.1 200 OK\r\n: empty name"],
)
def test_parse_http_head_rejects_garbage(head: bytes) -> None:
    with pytest.raises(HandshakeError):
        hs.parse_http_head(head)


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_connect_status_2xx_goes_on(status: int) -> None:
    assert hs.check_connect_status(status, "OK") is None


@pytest.mark.parametrize("status", [100, 199, 300, 302, 403, 502])
def test_connect_status_outside_2xx_stops_the_check(status: int) -> None:
    with pytest.raises(HandshakeError, match=f"HTTP {status}"):
        hs.check_connect_status(status, "No")


def test_connect_status_407_is_an_auth_failure() -> None:
    with pytest.raises(ProxyAuthRejected, match="407"):
        hs.check_connect_status(407, "Proxy Authentication Required")


def test_connect_status_other_is_a_refusal() -> None:
    with pytest.raises(HandshakeError, match="HTTP 403 Forbidden"):
        hs.check_connect_status(403, "Forbidden")


# --- SOCKS4 -------------------------------------------------------------------------------

def test_socks4_request_for_an_ipv4_target() -> None:
    got = hs.socks4_connect_request("127.0.0.1", 8080, None)
    assert got == b"\x04\x01\x1f\x90\x7f\x00\x00\x01\x00"


def test_socks4_request_carries_the_user_id() -> None:
    assert hs.socks4_connect_request("1.2.3.4", 80, "alice").endswith(b"\x01\x02\x03\x04alice\x00")


def test_socks4a_request_for_a_host_name() -> None:
    got = hs.socks4_connect_request("judge.example", 80, "bob")
    assert got == b"\x04\x01\x00\x50\x00\x00\x00\x01bob\x00judge.example\x00"


def test_socks4_cannot_reach_ipv6() -> None:
    with pytest.raises(HandshakeError, match="IPv6"):
        hs.socks4_connect_request("::1", 80, None)


@pytest.mark.parametrize("bound", [bytes(6), b"\x1f\x90\x7f\x00\x00\x01"])
def test_socks4_granted(bound: bytes) -> None:
    assert hs.parse_socks4_reply(b"\x00\x5a" + bound) is None
    with pytest.raises(HandshakeError, match="0x5b"):  # the very next code is a refusal
        hs.parse_socks4_reply(b"\x00\x5b" + bound)
    with pytest.raises(HandshakeError, match="not a SOCKS4 reply"):
        hs.parse_socks4_reply(b"\x04\x5a" + bound)


@pytest.mark.parametrize("code", [0x5C, 0x5D])
def test_socks4_user_id_rejection_is_an_auth_failure(code: int) -> None:
    with pytest.raises(ProxyAuthRejected, match=f"0x{code:02x}"):
        hs.parse_socks4_reply(bytes([0, code]) + bytes(6))


def test_socks4_rejection() -> None:
    with pytest.raises(HandshakeError, match="rejected \\(0x5b\\)"):
        hs.parse_socks4_reply(b"\x00\x5b" + bytes(6))


@pytest.mark.parametrize("reply", [b"\x05\x5a" + bytes(6), b"\x00\x5a", b"HTTP/1.1"])
def test_socks4_garbage_reply(reply: bytes) -> None:
    with pytest.raises(HandshakeError, match="not a SOCKS4 reply"):
        hs.parse_socks4_reply(reply)


@given(st.ip_addresses(v=4), st.integers(0, 65535), st.text("abcdefgh0123456789", max_size=20))
def test_socks4_request_layout(ip: object, port: int, user: str) -> None:
    got = hs.socks4_connect_request(str(ip), port, user)
    version, command, got_port = struct.unpack("!BBH", got[:4])
    assert (version, command, got_port) == (4, 1, port)
    assert got[8:] == user.encode() + b"\x00"


# --- SOCKS5 -------------------------------------------------------------------------------

def test_socks5_greeting_without_credentials() -> None:
    assert hs.socks5_greeting(False) == b"\x05\x01\x00"


def test_socks5_greeting_with_credentials_offers_both() -> None:
    assert hs.socks5_greeting(True) == b"\x05\x02\x00\x02"


def test_socks5_method_no_auth() -> None:
    assert hs.parse_socks5_method(b"\x05\x00", True) is hs.Socks5Method.NO_AUTH


def test_socks5_method_password_when_offered() -> None:
    assert hs.parse_socks5_method(b"\x05\x02", True) is hs.Socks5Method.USERNAME_PASSWORD


def test_socks5_method_password_when_not_offered() -> None:
    with pytest.raises(HandshakeError, match="did not offer"):
        hs.parse_socks5_method(b"\x05\x02", False)


def test_socks5_no_acceptable_method() -> None:
    with pytest.raises(ProxyAuthRejected, match="none of our methods"):
        hs.parse_socks5_method(b"\x05\xff", False)


@pytest.mark.parametrize("reply", [b"\x04\x00", b"\x05", b"HT"])
def test_socks5_garbage_method_reply(reply: bytes) -> None:
    with pytest.raises(HandshakeError, match="not a SOCKS5 method reply"):
        hs.parse_socks5_method(reply, True)


def test_rfc1929_request() -> None:
    assert hs.socks5_auth_request("user", "pw") == b"\x01\x04user\x02pw"


def test_rfc1929_request_with_empty_password() -> None:
    assert hs.socks5_auth_request("u", None) == b"\x01\x01u\x00"


@pytest.mark.parametrize(("user", "password"), [("", "x"), ("u" * 256, "x"), ("u", "p" * 256)])
def test_rfc1929_request_rejects_unsendable_credentials(user: str, password: str) -> None:
    with pytest.raises(HandshakeError, match="1-255 bytes"):
        hs.socks5_auth_request(user, password)


def test_rfc1929_success() -> None:
    assert hs.parse_socks5_auth_reply(b"\x01\x00") is None
    for status in (1, 2, 0xFF):
        with pytest.raises(ProxyAuthRejected):
            hs.parse_socks5_auth_reply(bytes([1, status]))
    with pytest.raises(HandshakeError, match="not a SOCKS5 auth reply"):
        hs.parse_socks5_auth_reply(b"\x05\x00")


def test_rfc1929_failure_is_an_auth_failure() -> None:
    with pytest.raises(ProxyAuthRejected, match="status 0x01"):
        hs.parse_socks5_auth_reply(b"\x01\x01")


def test_rfc1929_garbage() -> None:
    with pytest.raises(HandshakeError, match="not a SOCKS5 auth reply"):
        hs.parse_socks5_auth_reply(b"\x05\x00")


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", b"\x01\x7f\x00\x00\x01"),
        ("::1", b"\x04" + bytes(15) + b"\x01"),
        ("judge.example", b"\x03\x0djudge.example"),
    ],
)
def test_socks5_connect_request(host: str, address: bytes) -> None:
    assert hs.socks5_connect_request(host, 443) == b"\x05\x01\x00" + address + b"\x01\xbb"


@pytest.mark.parametrize(
    ("prefix", "size"),
    [(b"\x05\x00\x00\x01\x7f", 10), (b"\x05\x00\x00\x04\x00", 22), (b"\x05\x00\x00\x03\x05", 12)],
)
def test_socks5_reply_size(prefix: bytes, size: int) -> None:
    assert hs.socks5_reply_size(prefix) == size


@pytest.mark.parametrize("prefix", [b"\x04\x00\x00\x01\x00", b"\x05\x00\x00\x09\x00", b"\x05"])
def test_socks5_reply_size_rejects_garbage(prefix: bytes) -> None:
    with pytest.raises(HandshakeError):
        hs.socks5_reply_size(prefix)


@pytest.mark.parametrize("reply", [b"\x05\x00\x00\x01" + bytes(6),
                                   b"\x05\x00\x00\x04" + bytes(18),
                                   b"\x05\x00\x00\x03\x01a\x00\x50"])
def test_socks5_reply_success(reply: bytes) -> None:
    assert hs.parse_socks5_reply(reply) is None
    with pytest.raises(HandshakeError, match="general failure"):
        hs.parse_socks5_reply(reply[:1] + b"\x01" + reply[2:])


@pytest.mark.parametrize(
    ("code", "words"),
    [(1, "general failure"), (2, "not allowed"), (5, "connection refused"),
     (8, "address type not supported"), (0x42, "unknown reason")],
)
def test_socks5_reply_failure_says_why(code: int, words: str) -> None:
    with pytest.raises(HandshakeError, match=f"{words} \\(0x{code:02x}\\)"):
        hs.parse_socks5_reply(bytes([5, code, 0, 1]) + bytes(6))


@given(st.ip_addresses(), st.integers(0, 65535))
def test_socks5_request_round_trips_through_the_reply_size(ip: object, port: int) -> None:
    # The CONNECT request and a reply echoing its address have the same address layout.
    request = hs.socks5_connect_request(str(ip), port)
    assert hs.socks5_reply_size(request[:5]) == len(request)
    assert struct.unpack("!H", request[-2:]) == (port,)
