"""The client side of SOCKS5: `Socks5Client` offers methods, logs in with username/password
when the server picks it, sends CONNECT and reads the reply.

Standard library only; imports nothing of the project.
"""

from __future__ import annotations

import enum

from proxyfleet.wire import socks5
from proxyfleet.wire.credentials import Credentials
from proxyfleet.wire.handshake import NEED_DATA, Established, NeedData
from proxyfleet.wire.socks5 import (
    Socks5AuthFailed,
    Socks5AuthStatus,
    Socks5Error,
    Socks5Method,
    Socks5Reply,
)
from proxyfleet.wire.target import Target

_REPLY_HEAD = 3


class _State(enum.Enum):
    METHOD = "method selection"
    AUTH = "auth status"
    REPLY = "reply"
    DONE = "done"


class Socks5Client:
    """One SOCKS5 CONNECT handshake. Raises `Socks5Error` with the server's reply code."""

    def __init__(self, target: Target, credentials: Credentials | None = None) -> None:
        self._target = target
        self._credentials = credentials
        methods = [Socks5Method.NO_AUTH]
        if credentials is not None:
            methods.insert(0, Socks5Method.USERNAME_PASSWORD)
        self._outgoing = bytearray(socks5.greeting(methods))
        self._buffer = bytearray()
        self._state = _State.METHOD

    def data_to_send(self) -> bytes:
        out = bytes(self._outgoing)
        self._outgoing.clear()
        return out

    def receive_data(self, data: bytes) -> None:
        self._buffer += data

    def next_event(self) -> Established | NeedData:
        if self._state is _State.METHOD and not self._read_method():
            return NEED_DATA
        if self._state is _State.AUTH and not self._read_auth_status():
            return NEED_DATA
        if self._state is _State.REPLY:
            return self._read_reply()
        return NEED_DATA

    def _read_method(self) -> bool:
        if len(self._buffer) < 2:
            return False
        version, method = self._buffer[0], self._buffer[1]
        del self._buffer[:2]
        if version != socks5.VERSION:
            raise Socks5Error(Socks5Reply.GENERAL_FAILURE, f"server speaks version {version}")
        if method == Socks5Method.USERNAME_PASSWORD and self._credentials is not None:
            self._outgoing += socks5.auth_request(self._credentials)
            self._state = _State.AUTH
        elif method == Socks5Method.NO_AUTH:
            self._send_request()
        else:
            raise Socks5AuthFailed(f"server chose method {method:#04x}")
        return True

    def _read_auth_status(self) -> bool:
        if len(self._buffer) < 2:
            return False
        status = self._buffer[1]
        del self._buffer[:2]
        if status != Socks5AuthStatus.SUCCESS:
            raise Socks5AuthFailed("credentials refused")
        self._send_request()
        return True

    def _send_request(self) -> None:
        self._outgoing += socks5.connect_request(self._target)
        self._state = _State.REPLY

    def _read_reply(self) -> Established | NeedData:
        buffer = self._buffer
        if len(buffer) < _REPLY_HEAD:
            return NEED_DATA
        if buffer[0] != socks5.VERSION:
            raise Socks5Error(Socks5Reply.GENERAL_FAILURE, f"reply version {buffer[0]}")
        code = _reply_code(buffer[1])
        if code is not Socks5Reply.SUCCEEDED:
            raise Socks5Error(code, f"server refused: {code.name}")
        size = socks5.address_size(buffer, _REPLY_HEAD)
        if size is None or len(buffer) < _REPLY_HEAD + size:
            return NEED_DATA
        bound = socks5.decode_address(bytes(buffer[_REPLY_HEAD:_REPLY_HEAD + size]))
        del buffer[:_REPLY_HEAD + size]
        self._state = _State.DONE
        early, self._buffer = bytes(buffer), bytearray()
        return Established(bound, early)


def _reply_code(value: int) -> Socks5Reply:
    try:
        return Socks5Reply(value)
    except ValueError:
        return Socks5Reply.GENERAL_FAILURE
