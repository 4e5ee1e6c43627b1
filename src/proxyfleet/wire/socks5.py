"""SOCKS5 (RFC 1928, RFC 1929 for username/password) on the wire: the constants, the address
codec shared by requests and replies, message encoders and `Socks5Error`.

Standard library only; imports nothing of the project.
"""

from __future__ import annotations

import enum
import ipaddress
import struct

from proxyfleet.wire.credentials import Credentials
from proxyfleet.wire.errors import BadTarget, WireError
from proxyfleet.wire.target import HostKind, Target

VERSION = 5
AUTH_VERSION = 1
_PORT = struct.Struct("!H")
NO_BOUND = Target("0.0.0.0", 0)


class Socks5Method(enum.IntEnum):
    NO_AUTH = 0x00
    GSSAPI = 0x01
    USERNAME_PASSWORD = 0x02
    NO_ACCEPTABLE = 0xFF


class Socks5Command(enum.IntEnum):
    CONNECT = 0x01
    BIND = 0x02
    UDP_ASSOCIATE = 0x03


class Socks5AddressType(enum.IntEnum):
    IPV4 = 0x01
    DOMAIN = 0x03
    IPV6 = 0x04


class Socks5Reply(enum.IntEnum):
    SUCCEEDED = 0x00
    GENERAL_FAILURE = 0x01
    NOT_ALLOWED = 0x02
    NETWORK_UNREACHABLE = 0x03
    HOST_UNREACHABLE = 0x04
    CONNECTION_REFUSED = 0x05
    TTL_EXPIRED = 0x06
    COMMAND_NOT_SUPPORTED = 0x07
    ADDRESS_TYPE_NOT_SUPPORTED = 0x08


class Socks5AuthStatus(enum.IntEnum):
    SUCCESS = 0x00
    FAILURE = 0x01


class Socks5Error(WireError):
    """A SOCKS5 exchange that failed; `reply` is the code answered (server side) or received
    (client side)."""

    def __init__(self, reply: Socks5Reply, message: str, answer: bytes = b"") -> None:
        super().__init__(message, answer)
        self.reply = reply


class Socks5AuthFailed(Socks5Error):
    """Credentials were refused, or no method both sides speak was found."""

    def __init__(self, message: str, answer: bytes = b"") -> None:
        super().__init__(Socks5Reply.NOT_ALLOWED, message, answer)


def greeting(methods: list[Socks5Method]) -> bytes:
    return bytes([VERSION, len(methods), *methods])


def method_selection(method: Socks5Method) -> bytes:
    return bytes([VERSION, method])


def auth_request(credentials: Credentials) -> bytes:
    username = credentials.username.encode("utf-8", "surrogateescape")
    password = credentials.password.encode("utf-8", "surrogateescape")
    if not (len(username) <= 255 and len(password) <= 255):
        raise Socks5AuthFailed("username or password over 255 bytes")
    return bytes([AUTH_VERSION, len(username)]) + username + bytes([len(password)]) + password


def auth_reply(status: Socks5AuthStatus) -> bytes:
    return bytes([AUTH_VERSION, status])


def connect_request(target: Target) -> bytes:
    return bytes([VERSION, Socks5Command.CONNECT, 0]) + encode_address(target)


def reply(code: Socks5Reply, bound: Target = NO_BOUND) -> bytes:
    return bytes([VERSION, code, 0]) + encode_address(bound)


def encode_address(target: Target) -> bytes:
    kind = target.kind
    if kind is HostKind.NAME:
        name = target.host.encode("ascii")
        if len(name) > 255:
            raise BadTarget(f"host name over 255 bytes: {target.host[:40]}…")
        head = bytes([Socks5AddressType.DOMAIN, len(name)]) + name
    elif kind is HostKind.IPV4:
        head = bytes([Socks5AddressType.IPV4]) + ipaddress.IPv4Address(target.host).packed
    else:
        head = bytes([Socks5AddressType.IPV6]) + ipaddress.IPv6Address(target.host).packed
    return head + _PORT.pack(target.port)


def address_size(buffer: bytes | bytearray, offset: int) -> int | None:
    """Bytes taken by the address at `offset` (type byte to port), None until it is known."""
    if len(buffer) <= offset:
        return None
    kind = buffer[offset]
    if kind == Socks5AddressType.IPV4:
        return 1 + 4 + 2
    if kind == Socks5AddressType.IPV6:
        return 1 + 16 + 2
    if kind == Socks5AddressType.DOMAIN:
        return None if len(buffer) <= offset + 1 else 1 + 1 + buffer[offset + 1] + 2
    raise Socks5Error(Socks5Reply.ADDRESS_TYPE_NOT_SUPPORTED, f"address type {kind}",
                      reply(Socks5Reply.ADDRESS_TYPE_NOT_SUPPORTED))


def decode_address(field: bytes) -> Target:
    """The target in a complete address field, as measured by `address_size`."""
    port = _PORT.unpack(field[-2:])[0]
    raw = field[1:-2]
    if field[0] == Socks5AddressType.DOMAIN:
        return _domain_target(raw[1:], port)
    return Target(str(ipaddress.ip_address(raw)), port)


def _domain_target(name: bytes, port: int) -> Target:
    try:
        return Target.of(name.decode("ascii"), port)
    except (UnicodeDecodeError, BadTarget) as exc:
        raise Socks5Error(Socks5Reply.HOST_UNREACHABLE, f"bad domain {name[:40]!r}",
                          reply(Socks5Reply.HOST_UNREACHABLE)) from exc
