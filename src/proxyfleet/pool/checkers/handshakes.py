"""Client-side handshake messages for HTTP proxies, SOCKS4(a) and SOCKS5, as bytes.

Encoders build what a client sends; parsers read what a proxy answers and raise
`HandshakeError` (or `ProxyAuthRejected`) on anything but "go on", in the words a check
result reports. No I/O happens here: `tunnels` and `judging` drive these over a link. The
protocol constants and most encoders are `proxyfleet.wire`'s; the SOCKS4 request stays here
because the checker sends IDNA names and every IPv4 address as given, where the gateway's
client sends 0.0.0.x addresses as 4a names. Imports `wire`, this package and the standard
library.
"""

from __future__ import annotations

import functools
import ipaddress
import struct

from proxyfleet.pool.checkers.errors import HandshakeError, ProxyAuthRejected
from proxyfleet.wire import socks4, socks5
from proxyfleet.wire.credentials import Credentials, encode_basic
from proxyfleet.wire.errors import BadTarget
from proxyfleet.wire.http_connect import connect_request
from proxyfleet.wire.socks4 import Socks4Command, Socks4Reply
from proxyfleet.wire.socks5 import Socks5AddressType, Socks5Command, Socks5Method, Socks5Reply
from proxyfleet.wire.target import Target

__all__ = ["Socks4Command", "Socks4Reply", "Socks5AddressType", "Socks5Command",
           "Socks5Method", "Socks5Reply"]

SOCKS4_VERSION = socks4.VERSION
SOCKS5_VERSION = socks5.VERSION
RFC1929_VERSION = socks5.AUTH_VERSION


# --- HTTP ---------------------------------------------------------------------------------

def basic_proxy_authorization(username: str, password: str | None) -> str:
    return encode_basic(Credentials(username, password or ""))


def http_request(method: str, target: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def http_connect_request(host: str, port: int, authorization: str | None) -> bytes:
    if authorization is None:
        return _plain_connect_request(host, port)
    return connect_request(Target(host, port), extra=[("Proxy-Authorization", authorization)])


@functools.lru_cache(maxsize=256)  # the judge's host and port: the same check after check
def _plain_connect_request(host: str, port: int) -> bytes:
    return connect_request(Target(host, port), extra=[])


def host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_http_head(head: bytes) -> tuple[int, str, list[tuple[str, str]]]:
    """Status code, reason and headers of a response head (status line to blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    status, reason = parse_status_line(lines[0])
    headers = []
    for line in lines[1:]:  # inline, not a call per line: every check reads one or two heads
        if line:
            name, colon, value = line.partition(":")
            name = name.strip()
            if not colon or not name:
                raise HandshakeError(f"malformed HTTP header line: {line[:60]!r}")
            headers.append((name, value.strip()))
    return status, reason, headers


def parse_status_line(line: str) -> tuple[int, str]:
    version, _, rest = line.partition(" ")
    code, _, reason = rest.partition(" ")
    digits = code.isascii() and code.isdigit()  # str.isdigit alone takes "²", which int refuses
    if not version.startswith("HTTP/1.") or len(code) != 3 or not digits:
        raise HandshakeError(f"not an HTTP response: {line[:60]!r}")
    return int(code), reason.strip()


def check_connect_status(status: int, reason: str) -> None:
    if status == 407:
        raise ProxyAuthRejected("proxy authentication failed (HTTP 407)")
    if not 200 <= status < 300:
        raise HandshakeError(f"proxy refused CONNECT: HTTP {status} {reason}".rstrip())


# --- SOCKS4 / SOCKS4a ---------------------------------------------------------------------

def socks4_connect_request(host: str, port: int, userid: str | None) -> bytes:
    """SOCKS4 CONNECT; a host name makes it SOCKS4a (address 0.0.0.1, name after the user)."""
    user = (userid or "").encode() + b"\x00"
    ip = _ipv4_or_none(host)
    if ip is not None:
        return struct.pack("!BBH", SOCKS4_VERSION, Socks4Command.CONNECT, port) + ip + user
    address = bytes([0, 0, 0, 1])
    name = host.encode("idna") + b"\x00"
    return struct.pack("!BBH", SOCKS4_VERSION, Socks4Command.CONNECT, port) + address + user + name


@functools.lru_cache(maxsize=256)  # the host is the judge's: the same one check after check
def _ipv4_or_none(host: str) -> bytes | None:
    try:
        return ipaddress.IPv4Address(host).packed
    except ValueError:
        if ":" in host:
            raise HandshakeError("SOCKS4 cannot reach an IPv6 address") from None
        return None


SOCKS4_REPLY_SIZE = 8


def parse_socks4_reply(reply: bytes) -> None:
    if len(reply) != SOCKS4_REPLY_SIZE or reply[0] != 0:
        raise HandshakeError(f"not a SOCKS4 reply: {reply[:8].hex()}")
    code = reply[1]
    if code == Socks4Reply.GRANTED:
        return
    if code in (Socks4Reply.IDENTD_MISMATCH, Socks4Reply.NO_IDENTD):
        raise ProxyAuthRejected(f"SOCKS4 user id rejected (0x{code:02x})")
    raise HandshakeError(f"SOCKS4 request rejected (0x{code:02x})")


# --- SOCKS5 -------------------------------------------------------------------------------

def socks5_greeting(with_credentials: bool) -> bytes:
    methods = [Socks5Method.NO_AUTH]
    if with_credentials:
        methods.append(Socks5Method.USERNAME_PASSWORD)
    return socks5.greeting(methods)


def parse_socks5_method(reply: bytes, with_credentials: bool) -> Socks5Method:
    if len(reply) != 2 or reply[0] != SOCKS5_VERSION:
        raise HandshakeError(f"not a SOCKS5 method reply: {reply[:2].hex()}")
    if reply[1] == Socks5Method.NO_ACCEPTABLE:
        raise ProxyAuthRejected("SOCKS5 proxy accepts none of our methods (credentials needed?)")
    if reply[1] == Socks5Method.USERNAME_PASSWORD and with_credentials:
        return Socks5Method.USERNAME_PASSWORD
    if reply[1] == Socks5Method.NO_AUTH:
        return Socks5Method.NO_AUTH
    raise HandshakeError(f"SOCKS5 proxy chose a method we did not offer: 0x{reply[1]:02x}")


def socks5_auth_request(username: str, password: str | None) -> bytes:
    """RFC 1929 username/password sub-negotiation."""
    user, secret = username.encode(), (password or "").encode()
    if not 0 < len(user) < 256 or len(secret) > 255:
        raise HandshakeError("SOCKS5 credentials must be 1-255 bytes")
    return socks5.auth_request(Credentials(username, password or ""))


def parse_socks5_auth_reply(reply: bytes) -> None:
    if len(reply) != 2 or reply[0] != RFC1929_VERSION:
        raise HandshakeError(f"not a SOCKS5 auth reply: {reply[:2].hex()}")
    if reply[1] != 0:
        raise ProxyAuthRejected(f"SOCKS5 authentication failed (status 0x{reply[1]:02x})")


@functools.lru_cache(maxsize=256)  # the judge's host and port: the same check after check
def socks5_connect_request(host: str, port: int) -> bytes:
    # Names travel in their IDNA (ASCII) form, as a resolver would look them up.
    ascii_host = host if host.isascii() else host.encode("idna").decode("ascii")
    try:
        return socks5.connect_request(Target(ascii_host, port))
    except BadTarget as exc:
        raise HandshakeError(str(exc)) from None


SOCKS5_REPLY_PREFIX = 5  # VER REP RSV ATYP and the first address byte


def socks5_reply_size(prefix: bytes) -> int:
    """The whole reply's size, known once its first five bytes are in."""
    if len(prefix) != SOCKS5_REPLY_PREFIX or prefix[0] != SOCKS5_VERSION:
        raise HandshakeError(f"not a SOCKS5 reply: {prefix.hex()}")
    sizes = {Socks5AddressType.IPV4: 4, Socks5AddressType.IPV6: 16}
    if prefix[3] == Socks5AddressType.DOMAIN:
        return 4 + 1 + prefix[4] + 2
    if prefix[3] in sizes:
        return 4 + sizes[Socks5AddressType(prefix[3])] + 2
    raise HandshakeError(f"SOCKS5 reply has an unknown address type 0x{prefix[3]:02x}")


def parse_socks5_reply(reply: bytes) -> None:
    if reply[1] == Socks5Reply.SUCCEEDED:
        return
    try:
        reason = Socks5Reply(reply[1]).name.lower().replace("_", " ")
    except ValueError:
        reason = "unknown reason"
    raise HandshakeError(f"SOCKS5 connect failed: {reason} (0x{reply[1]:02x})")
