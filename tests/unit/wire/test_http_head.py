from http import HTTPStatus

import pytest

from proxyfleet.wire.handshake import NEED_DATA
from proxyfleet.wire.http_head import (
    Headers,
    HeadReader,
    HeadTooLarge,
    HttpError,
    error_response,
    parse_request_head,
    parse_response_head,
)

REQUEST = b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"


def test_reader_waits_for_the_blank_line_fed_byte_by_byte() -> None:
    reader = HeadReader()
    for byte in REQUEST[:-1]:
        reader.receive_data(bytes([byte]))
        assert reader.next_head() is NEED_DATA
    reader.receive_data(REQUEST[-1:] + b"body")
    assert reader.next_head() == REQUEST
    assert reader.take_rest() == b"body"


def test_reader_returns_pipelined_heads_one_at_a_time() -> None:
    reader = HeadReader()
    reader.receive_data(REQUEST * 2)
    assert reader.next_head() == REQUEST
    assert reader.next_head() == REQUEST
    assert reader.next_head() is NEED_DATA


def test_reader_accepts_bare_lf() -> None:
    reader = HeadReader()
    reader.receive_data(b"GET / HTTP/1.1\nHost: a\n\nrest")
    assert reader.next_head() == b"GET / HTTP/1.1\nHost: a\n\n"


def test_reader_limits_the_head() -> None:
    reader = HeadReader(limit=100)
    reader.receive_data(b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 20)
    with pytest.raises(HeadTooLarge) as caught:
        reader.next_head()
    assert caught.value.status == HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
    assert caught.value.answer.startswith(b"HTTP/1.1 431 ")


def test_reader_limits_a_complete_but_oversized_head() -> None:
    reader = HeadReader(limit=20)
    reader.receive_data(b"GET / HTTP/1.1\r\nX: yyyyyyyy\r\n\r\n")
    with pytest.raises(HeadTooLarge):
        reader.next_head()


def test_parses_a_request_head() -> None:
    head = parse_request_head(REQUEST)
    assert (head.method, head.target, head.version) == ("GET", "http://example.com/", (1, 1))
    assert head.headers.get("host") == "example.com"
    assert head.encode() == REQUEST


def test_tolerates_an_empty_line_before_the_request_line() -> None:
    assert parse_request_head(b"\r\n" + REQUEST).method == "GET"


@pytest.mark.parametrize(("head", "status"), [
    (b"GET / HTTP/1.1 extra\r\n\r\n", HTTPStatus.BAD_REQUEST),
    (b"G(T / HTTP/1.1\r\n\r\n", HTTPStatus.BAD_REQUEST),
    (b"GET / HTTX/1.1\r\n\r\n", HTTPStatus.BAD_REQUEST),
    (b"GET / HTTP/2.0\r\n\r\n", HTTPStatus.HTTP_VERSION_NOT_SUPPORTED),
    (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", HTTPStatus.BAD_REQUEST),
    (b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", HTTPStatus.BAD_REQUEST),
    (b"GET / HTTP/1.1\r\nNoColon\r\n\r\n", HTTPStatus.BAD_REQUEST),
    (b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n", HTTPStatus.BAD_REQUEST),
    (b"\r\n\r\n", HTTPStatus.BAD_REQUEST),
])
def test_refuses_malformed_requests_with_their_status(head: bytes, status: HTTPStatus) -> None:
    with pytest.raises(HttpError) as caught:
        parse_request_head(head)
    assert caught.value.status == status
    assert caught.value.answer.startswith(f"HTTP/1.1 {status.value} ".encode())


def test_parses_a_response_head() -> None:
    head = parse_response_head(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    assert (head.version, head.status, head.reason) == ((1, 0), 404, "Not Found")
    assert head.headers.get("content-length") == "0"


def test_response_without_reason_phrase() -> None:
    assert parse_response_head(b"HTTP/1.1 200\r\n\r\n").reason == ""


@pytest.mark.parametrize("code", [b"abc", b"\xb200"])  # "\xb2" is "²", a digit to str.isdigit
def test_malformed_response_is_a_bad_gateway(code: bytes) -> None:
    with pytest.raises(HttpError) as caught:
        parse_response_head(b"HTTP/1.1 " + code + b" OK\r\n\r\n")
    assert caught.value.status == HTTPStatus.BAD_GATEWAY


def test_headers_tokens_and_without() -> None:
    headers = Headers([("Connection", "Keep-Alive, X-Foo"), ("connection", "close"),
                       ("X-Foo", "1"), ("Y", "2")])
    assert headers.tokens("CONNECTION") == ["keep-alive", "x-foo", "close"]
    assert list(headers.without(["connection", "x-foo"])) == [("Y", "2")]


def test_error_response_is_complete_and_closing() -> None:
    response = error_response(HTTPStatus.BAD_GATEWAY)
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert b"Connection: close" in head
    assert f"Content-Length: {len(body)}".encode() in head
