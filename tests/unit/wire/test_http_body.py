from http import HTTPStatus

import pytest

from proxyfleet.wire.http_body import (
    BodyLength,
    BodyScanner,
    Framing,
    request_body,
    response_body,
)
from proxyfleet.wire.http_head import HttpError, parse_request_head, parse_response_head


def _request(*fields: str) -> BodyLength:
    head = "POST http://a/ HTTP/1.1\r\n" + "".join(f + "\r\n" for f in fields) + "\r\n"
    return request_body(parse_request_head(head.encode("latin-1")))  # as the wire decodes


def _response(status: int, *fields: str, method: str = "GET") -> BodyLength:
    head = f"HTTP/1.1 {status} X\r\n" + "".join(f + "\r\n" for f in fields) + "\r\n"
    return response_body(parse_response_head(head.encode("latin-1")), method)


def test_request_framings() -> None:
    assert _request() == BodyLength(Framing.EMPTY)
    assert _request("Content-Length: 5") == BodyLength(Framing.LENGTH, 5)
    assert _request("Content-Length: 5, 5") == BodyLength(Framing.LENGTH, 5)
    assert _request("Transfer-Encoding: gzip, chunked") == BodyLength(Framing.CHUNKED)


@pytest.mark.parametrize(("fields", "status"), [
    (("Content-Length: 5", "Transfer-Encoding: chunked"), HTTPStatus.BAD_REQUEST),
    (("Content-Length: 5", "Content-Length: 6"), HTTPStatus.BAD_REQUEST),
    (("Content-Length: -1",), HTTPStatus.BAD_REQUEST),
    (("Content-Length: 0x10",), HTTPStatus.BAD_REQUEST),
    (("Content-Length: \u00b2",), HTTPStatus.BAD_REQUEST),  # a digit to str.isdigit, not to int
    (("Transfer-Encoding: gzip",), HTTPStatus.NOT_IMPLEMENTED),
])
def test_refuses_ambiguous_request_framing(fields: tuple[str, ...], status: HTTPStatus) -> None:
    with pytest.raises(HttpError) as caught:
        _request(*fields)
    assert caught.value.status == status


def test_response_framings() -> None:
    assert _response(200) == BodyLength(Framing.UNTIL_CLOSE)
    assert _response(200, "Content-Length: 3") == BodyLength(Framing.LENGTH, 3)
    assert _response(200, "Transfer-Encoding: chunked") == BodyLength(Framing.CHUNKED)
    assert _response(200, "Transfer-Encoding: gzip") == BodyLength(Framing.UNTIL_CLOSE)
    assert _response(200, "Content-Length: 3", method="HEAD") == BodyLength(Framing.EMPTY)
    for status in (101, 204, 304):
        assert _response(status, "Content-Length: 3") == BodyLength(Framing.EMPTY)


def test_length_scanner_stops_at_the_length() -> None:
    scanner = BodyScanner(BodyLength(Framing.LENGTH, 5), HTTPStatus.BAD_REQUEST)
    assert scanner.feed(b"abc") == 3
    assert not scanner.done
    assert scanner.feed(b"defgh") == 2
    assert scanner.done
    assert scanner.feed(b"more") == 0


def test_empty_bodies_are_done_at_once() -> None:
    assert BodyScanner(BodyLength(Framing.EMPTY), HTTPStatus.BAD_REQUEST).done
    assert BodyScanner(BodyLength(Framing.LENGTH, 0), HTTPStatus.BAD_REQUEST).done


def test_until_close_takes_everything() -> None:
    scanner = BodyScanner(BodyLength(Framing.UNTIL_CLOSE), HTTPStatus.BAD_GATEWAY)
    assert scanner.feed(b"x" * 100) == 100
    assert not scanner.done


CHUNKED = b"5;ext=1\r\nhello\r\n1A\r\n" + b"x" * 26 + b"\r\n0\r\nTrailer: yes\r\n\r\n"


@pytest.mark.parametrize("split", [1, 2, 3, 7, len(CHUNKED)])
def test_chunked_scanner_finds_the_end_however_it_is_split(split: int) -> None:
    scanner = BodyScanner(BodyLength(Framing.CHUNKED), HTTPStatus.BAD_REQUEST)
    stream = CHUNKED + b"NEXT"
    used = 0
    for start in range(0, len(stream), split):
        piece = stream[start:start + split]
        taken = scanner.feed(piece)
        used += taken
        if scanner.done:
            break
        assert taken == len(piece)
    assert scanner.done
    assert used == len(CHUNKED)


@pytest.mark.parametrize("body", [
    b"zz\r\n", b"0x5\r\nhello\r\n", b"+5\r\nhello\r\n", b"5\r\nhelloXX\r\n",
    b"1" * 5000, b"\r\n",
])
def test_chunked_scanner_refuses_bad_chunks(body: bytes) -> None:
    scanner = BodyScanner(BodyLength(Framing.CHUNKED), HTTPStatus.BAD_GATEWAY)
    with pytest.raises(HttpError) as caught:
        scanner.feed(body)
    assert caught.value.status == HTTPStatus.BAD_GATEWAY
