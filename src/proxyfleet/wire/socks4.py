"""SOCKS4 and its 4a extension (remote name resolution), both sides of CONNECT: the constants,
`Socks4Server`, `Socks4Client` and `Socks4Error`.

Standard library only; imports nothing of the project.
"""

from __future__ import annotations

import enum
import ipaddress
import struct
from dataclasses import dataclass

from proxyfleet.wire.credentials import Credentials
from proxyfleet.wire.errors import BadTarget, WireError
from proxyfleet.wire.handshake import NEED_DATA, Established, NeedData
from proxyfleet.wire.target import HostKind, Target

VERSION = 4
REPLY_VERSION = 0
_HEAD = struct.Struct("!BBH4s")  # VN CD DSTPORT DSTIP
_REPLY = struct.Struct("!BBH4s")
_MAX_FIELD = 255
# 0.0.0.x with x != 0 marks a 4a request whose name follows the user id.
_SOCKS4A_MARK = ipaddress.IPv4Network("0.0.0.0/24")


class Socks4Command(enum.IntEnum):
    CONNECT = 0x01
    BIND = 0x02


class Socks4Reply(enum.IntEnum):
    GRANTED = 0x5A
    REJECTED = 0x5B
    NO_IDENTD = 0x5C
    IDENTD_MISMATCH = 0x5D


class Socks4Error(WireError):
    """A SOCKS4 exchange that failed; `reply` is the code answered or received."""

    def __init__(self, reply_code: Socks4Reply, message: str, answer: bytes = b"") -> None:
        super().__init__(message, answer)
        self.reply = reply_code


def reply(code: Socks4Reply, bound: Target | None = None) -> bytes:
    bound = bound if bound is not None and bound.kind is HostKind.IPV4 else Target("0.0.0.0", 0)
    return _REPLY.pack(REPLY_VERSION, code, bound.port,
                       ipaddress.IPv4Address(bound.host).packed)


def connect_request(target: Target, userid: str = "") -> bytes:
    """A SOCKS4 request for an IPv4 target, SOCKS4a for a name; IPv6 cannot be asked for."""
    user = userid.encode("utf-8", "surrogateescape") + b"\0"
    if target.kind is HostKind.IPV6:
        raise BadTarget("SOCKS4 cannot carry an IPv6 address")
    if target.kind is HostKind.IPV4 and not _is_4a_mark(ipaddress.IPv4Address(target.host)):
        packed = ipaddress.IPv4Address(target.host).packed
        return _HEAD.pack(VERSION, Socks4Command.CONNECT, target.port, packed) + user
    # Names, and the few addresses that look like the 4a mark, travel as 4a names.
    mark = bytes([0, 0, 0, 1])
    name = target.host.encode("ascii") + b"\0"
    return _HEAD.pack(VERSION, Socks4Command.CONNECT, target.port, mark) + user + name


def _is_4a_mark(address: ipaddress.IPv4Address) -> bool:
    return address in _SOCKS4A_MARK and address != _SOCKS4A_MARK.network_address


@dataclass(frozen=True, slots=True)
class Socks4ConnectRequest:
    target: Target
    userid: str

    @property
    def credentials(self) -> Credentials | None:
        """A login carried in the user id as `username:password` (SOCKS4 has no password
        field), split at the first colon as HTTP Basic is; None without a colon."""
        username, colon, password = self.userid.partition(":")
        return Credentials(username, password) if colon else None


def _rejected(message: str) -> Socks4Error:
    return Socks4Error(Socks4Reply.REJECTED, message, reply(Socks4Reply.REJECTED))


class Socks4Server:
    """One SOCKS4/4a CONNECT request, server side; answer it with `send_reply`."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._outgoing = bytearray()
        self._done = False

    def receive_data(self, data: bytes) -> None:
        self._buffer += data

    def data_to_send(self) -> bytes:
        out = bytes(self._outgoing)
        self._outgoing.clear()
        return out

    def take_rest(self) -> bytes:
        rest = bytes(self._buffer)
        self._buffer.clear()
        return rest

    def send_reply(self, code: Socks4Reply, bound: Target | None = None) -> None:
        self._outgoing += reply(code, bound)

    def next_event(self) -> Socks4ConnectRequest | NeedData:
        if self._done or len(self._buffer) < _HEAD.size:
            return NEED_DATA
        version, command, port, packed = _HEAD.unpack_from(self._buffer)
        if version != VERSION:
            raise Socks4Error(Socks4Reply.REJECTED, f"version {version}")
        if command != Socks4Command.CONNECT:
            raise _rejected(f"command {command}")
        userid, after_user = self._field(_HEAD.size)
        if userid is None:
            return NEED_DATA
        address = ipaddress.IPv4Address(packed)
        if not _is_4a_mark(address):
            return self._request(Target(str(address), port), userid, after_user)
        name, after_name = self._field(after_user)
        if name is None:
            return NEED_DATA
        try:
            target = Target.of(name, port)
        except BadTarget as exc:
            raise _rejected(str(exc)) from exc
        return self._request(target, userid, after_name)

    def _request(self, target: Target, userid: str, end: int) -> Socks4ConnectRequest:
        del self._buffer[:end]
        self._done = True
        return Socks4ConnectRequest(target, userid)

    def _field(self, start: int) -> tuple[str | None, int]:
        """The NUL-terminated field at `start` and where the next one starts."""
        end = self._buffer.find(b"\0", start)
        if end < 0:
            if len(self._buffer) - start > _MAX_FIELD:
                raise _rejected("field over 255 bytes")
            return None, start
        if end - start > _MAX_FIELD:
            raise _rejected("field over 255 bytes")
        return bytes(self._buffer[start:end]).decode("utf-8", "surrogateescape"), end + 1


class Socks4Client:
    """One SOCKS4/4a CONNECT handshake, client side. Raises `Socks4Error` unless granted."""

    def __init__(self, target: Target, userid: str = "") -> None:
        self._outgoing = connect_request(target, userid)
        self._buffer = bytearray()
        self._done = False

    def data_to_send(self) -> bytes:
        out, self._outgoing = self._outgoing, b""
        return out

    def receive_data(self, data: bytes) -> None:
        self._buffer += data

    def next_event(self) -> Established | NeedData:
        if self._done or len(self._buffer) < _REPLY.size:
            return NEED_DATA
        version, code, port, packed = _REPLY.unpack_from(self._buffer)
        if version != REPLY_VERSION:
            raise Socks4Error(Socks4Reply.REJECTED, f"reply version {version}")
        if code != Socks4Reply.GRANTED:
            raise Socks4Error(_reply_code(code), f"server answered {code:#04x}")
        self._done = True
        early = bytes(self._buffer[_REPLY.size:])
        self._buffer.clear()
        return Established(Target(str(ipaddress.IPv4Address(packed)), port), early)


def _reply_code(value: int) -> Socks4Reply:
    try:
        return Socks4Reply(value)
    except ValueError:
        return Socks4Reply.REJECTED
