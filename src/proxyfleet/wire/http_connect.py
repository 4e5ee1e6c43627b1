"""The client side of an HTTP CONNECT handshake: `HttpConnectClient` sends the CONNECT
request (with optional Basic credentials) and reads the proxy's response head.

Standard library only; imports nothing of the project.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus

from proxyfleet.wire.credentials import Credentials, encode_basic
from proxyfleet.wire.handshake import NEED_DATA, Established, NeedData
from proxyfleet.wire.http_head import (
    Headers,
    HeadReader,
    HttpError,
    RequestHead,
    ResponseHead,
    parse_response_head,
)
from proxyfleet.wire.target import Target


class ConnectRefused(HttpError):
    """The proxy answered CONNECT with something other than 2xx; `response` is its head."""

    def __init__(self, response: ResponseHead) -> None:
        status = _known_status(response.status)
        super().__init__(status, f"CONNECT refused: {response.status} {response.reason}")
        self.response = response


def _known_status(code: int) -> HTTPStatus:
    try:
        return HTTPStatus(code)
    except ValueError:
        return HTTPStatus.BAD_GATEWAY


def connect_request(target: Target, credentials: Credentials | None = None,
                    extra: Iterable[tuple[str, str]] = ()) -> bytes:
    fields = [("Host", target.authority), *extra]
    if credentials is not None:
        fields.append(("Proxy-Authorization", encode_basic(credentials)))
    return RequestHead("CONNECT", target.authority, (1, 1), Headers(fields)).encode()


class HttpConnectClient:
    """One CONNECT handshake. Raises `ConnectRefused` on a non-2xx answer."""

    def __init__(self, target: Target, credentials: Credentials | None = None) -> None:
        self._outgoing = connect_request(target, credentials)
        self._reader = HeadReader()
        self.response: ResponseHead | None = None

    def data_to_send(self) -> bytes:
        out, self._outgoing = self._outgoing, b""
        return out

    def receive_data(self, data: bytes) -> None:
        self._reader.receive_data(data)

    def next_event(self) -> Established | NeedData:
        while True:
            head = self._reader.next_head()
            if head is NEED_DATA:
                return NEED_DATA
            response = parse_response_head(head)
            # Interim 1xx heads may precede the answer; skip them.
            if response.status >= 200:
                break
        self.response = response
        if response.status >= 300:
            raise ConnectRefused(response)
        return Established(None, self._reader.take_rest())
