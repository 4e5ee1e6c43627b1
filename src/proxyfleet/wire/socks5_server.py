"""The server side of SOCKS5: `Socks5Server` negotiates the method, runs the RFC 1929
username/password exchange and reads the CONNECT request, leaving the decisions (are these
credentials good, did the connection open) to its driver.

Standard library only; imports nothing of the project.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from proxyfleet.wire import socks5
from proxyfleet.wire.credentials import Credentials
from proxyfleet.wire.handshake import NEED_DATA, NeedData
from proxyfleet.wire.socks5 import (
    NO_BOUND,
    Socks5AuthFailed,
    Socks5AuthStatus,
    Socks5Command,
    Socks5Error,
    Socks5Method,
    Socks5Reply,
)
from proxyfleet.wire.target import Target

_REQUEST_HEAD = 3  # VER CMD RSV, then the address


@dataclass(frozen=True, slots=True)
class Socks5AuthRequest:
    """The client logs in; answer with `Socks5Server.accept_credentials(ok)`."""

    credentials: Credentials


@dataclass(frozen=True, slots=True)
class Socks5ConnectRequest:
    """The client asks for a tunnel; answer with `Socks5Server.send_reply(...)`."""

    target: Target


Socks5ServerEvent = Socks5AuthRequest | Socks5ConnectRequest


class _State(enum.Enum):
    GREETING = "greeting"
    AUTH = "username/password"
    AUTH_PENDING = "awaiting the credentials verdict"
    REQUEST = "request"
    REPLY_PENDING = "awaiting the connect outcome"
    DONE = "done"


class Socks5Server:
    """One SOCKS5 handshake, server side.

    With `auth_required`, only username/password is accepted; without it, no-auth is preferred
    and username/password is still taken from clients that offer nothing else.
    """

    def __init__(self, *, auth_required: bool) -> None:
        self._methods = ([Socks5Method.USERNAME_PASSWORD] if auth_required
                         else [Socks5Method.NO_AUTH, Socks5Method.USERNAME_PASSWORD])
        self._buffer = bytearray()
        self._outgoing = bytearray()
        self._state = _State.GREETING

    def receive_data(self, data: bytes) -> None:
        self._buffer += data

    def data_to_send(self) -> bytes:
        out = bytes(self._outgoing)
        self._outgoing.clear()
        return out

    def take_rest(self) -> bytes:
        """Bytes the client sent past its request: early tunnel data."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        return rest

    def next_event(self) -> Socks5ServerEvent | NeedData:
        if self._state is _State.GREETING and not self._read_greeting():
            return NEED_DATA
        if self._state is _State.AUTH:
            return self._read_auth()
        if self._state is _State.REQUEST:
            return self._read_request()
        return NEED_DATA

    def accept_credentials(self, ok: bool) -> None:
        """Answer the `Socks5AuthRequest`; a refusal raises `Socks5AuthFailed` to close on."""
        self._expect(_State.AUTH_PENDING)
        status = Socks5AuthStatus.SUCCESS if ok else Socks5AuthStatus.FAILURE
        if not ok:
            self._state = _State.DONE
            raise Socks5AuthFailed("credentials refused", socks5.auth_reply(status))
        self._outgoing += socks5.auth_reply(status)
        self._state = _State.REQUEST

    def send_reply(self, code: Socks5Reply, bound: Target = NO_BOUND) -> None:
        """Answer the `Socks5ConnectRequest`: SUCCEEDED with the bound address, or why not."""
        self._expect(_State.REPLY_PENDING)
        self._outgoing += socks5.reply(code, bound)
        self._state = _State.DONE

    def _expect(self, state: _State) -> None:
        if self._state is not state:
            raise RuntimeError(f"SOCKS5 server is at {self._state.value}, not {state.value}")

    def _read_greeting(self) -> bool:
        if len(self._buffer) < 2:
            return False
        if self._buffer[0] != socks5.VERSION:
            raise Socks5Error(Socks5Reply.GENERAL_FAILURE, f"version {self._buffer[0]}")
        end = 2 + self._buffer[1]
        if len(self._buffer) < end:
            return False
        offered = set(self._buffer[2:end])
        del self._buffer[:end]
        method = next((m for m in self._methods if m in offered), Socks5Method.NO_ACCEPTABLE)
        if method is Socks5Method.NO_ACCEPTABLE:
            raise Socks5AuthFailed("no acceptable method",
                                   socks5.method_selection(Socks5Method.NO_ACCEPTABLE))
        self._outgoing += socks5.method_selection(method)
        self._state = _State.AUTH if method is Socks5Method.USERNAME_PASSWORD else _State.REQUEST
        return True

    def _read_auth(self) -> Socks5AuthRequest | NeedData:
        buffer = self._buffer
        if len(buffer) < 2:
            return NEED_DATA
        if buffer[0] != socks5.AUTH_VERSION:
            raise Socks5AuthFailed(f"auth version {buffer[0]}",
                                   socks5.auth_reply(Socks5AuthStatus.FAILURE))
        password_at = 2 + buffer[1]
        if len(buffer) < password_at + 1 or len(buffer) < password_at + 1 + buffer[password_at]:
            return NEED_DATA
        end = password_at + 1 + buffer[password_at]
        username = bytes(buffer[2:password_at]).decode("utf-8", "surrogateescape")
        password = bytes(buffer[password_at + 1:end]).decode("utf-8", "surrogateescape")
        del buffer[:end]
        self._state = _State.AUTH_PENDING
        return Socks5AuthRequest(Credentials(username, password))

    def _read_request(self) -> Socks5ConnectRequest | NeedData:
        buffer = self._buffer
        if len(buffer) < _REQUEST_HEAD:
            return NEED_DATA
        if buffer[0] != socks5.VERSION:
            raise Socks5Error(Socks5Reply.GENERAL_FAILURE, f"request version {buffer[0]}",
                              socks5.reply(Socks5Reply.GENERAL_FAILURE))
        if buffer[1] != Socks5Command.CONNECT:
            raise Socks5Error(Socks5Reply.COMMAND_NOT_SUPPORTED, f"command {buffer[1]}",
                              socks5.reply(Socks5Reply.COMMAND_NOT_SUPPORTED))
        size = socks5.address_size(buffer, _REQUEST_HEAD)
        if size is None or len(buffer) < _REQUEST_HEAD + size:
            return NEED_DATA
        field = bytes(buffer[_REQUEST_HEAD:_REQUEST_HEAD + size])
        del buffer[:_REQUEST_HEAD + size]
        self._state = _State.REPLY_PENDING
        return Socks5ConnectRequest(socks5.decode_address(field))
