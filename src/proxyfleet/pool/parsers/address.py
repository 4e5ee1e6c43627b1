"""Pure address parsing: one list line, or one host/port/protocol/credential set, to a proxy.

Everything here returns a `ProxyAddress` or `None`, never raises on bad input: lists are full
of junk and one bad line must not cost the rest. Imports only `core` and the standard library.
"""

from __future__ import annotations

import ipaddress
import re

from proxyfleet.core.proxies import ProxyAddress, ProxyProtocol

# Lists spell protocols many ways; the "h"/"a" variants only say who resolves the name,
# which does not change how we speak to the proxy.
PROTOCOL_NAMES: dict[str, ProxyProtocol] = {
    "http": ProxyProtocol.HTTP,
    "https": ProxyProtocol.HTTPS,
    "socks4": ProxyProtocol.SOCKS4,
    "socks4a": ProxyProtocol.SOCKS4,
    "socks5": ProxyProtocol.SOCKS5,
    "socks5h": ProxyProtocol.SOCKS5,
    "socks": ProxyProtocol.SOCKS5,
}

COMMENT_PREFIXES = ("#", "//", ";")

MAX_LOGIN_BYTES = 255

_PORT = re.compile(r"[0-9]{1,5}")
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")
_DIGITS = re.compile(r"[0-9]+")


def protocol_named(name: str) -> ProxyProtocol | None:
    return PROTOCOL_NAMES.get(name.strip().lower())


def valid_port(text: str) -> int | None:
    if _PORT.fullmatch(text) is None:
        return None
    port = int(text)
    return port if 0 < port <= 65535 else None


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _valid_hostname(host: str) -> bool:
    labels = host.split(".")
    if len(host) > 253 or _DIGITS.fullmatch(labels[-1]):
        # An all-digit last label is a broken IPv4 address (999.1.1.1), not a name.
        return False
    return all(_LABEL.fullmatch(label) for label in labels)


def valid_host(host: str) -> str | None:
    """The host in its canonical form (lower case, compressed IPv6), or None.

    Canonical, so that one proxy written two ways is one inventory key.
    """
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        return _valid_ipv6(host[1:-1])
    ip = _ip(host)
    if ip is None:
        return host if host and _valid_hostname(host) else None
    return _valid_ipv6(host) if ip.version == 6 else str(ip)


def _valid_ipv6(host: str) -> str | None:
    ip = _ip(host)
    if not isinstance(ip, ipaddress.IPv6Address) or ip.scope_id:
        return None  # a zone names an interface of the list's author, useless to us
    return str(ip)


def make_address(host: str, port: str | int, protocol: ProxyProtocol,
                 username: str | None = None, password: str | None = None) -> ProxyAddress | None:
    """A proxy from separate fields; an unbracketed IPv6 host is fine here."""
    canonical = valid_host(host)
    number = valid_port(str(port))
    if canonical is None or number is None or username == "":
        return None
    if not _valid_login(username) or not _valid_login(password):
        return None
    return ProxyAddress(canonical, number, protocol, username, password or None)


def _valid_login(part: str | None) -> bool:
    """A username or password fits every protocol's login (SOCKS5 carries at most 255
    bytes of each) and holds no NUL, which no database keeps alike."""
    return part is None or (len(part.encode()) <= MAX_LOGIN_BYTES and "\x00" not in part)


def _split_scheme(token: str, default: ProxyProtocol) -> tuple[ProxyProtocol | None, str]:
    scheme, separator, rest = token.partition("://")
    if not separator:
        return default, token
    return protocol_named(scheme), rest


def _split_userinfo(rest: str) -> tuple[str | None, str | None, str]:
    # The last "@" ends the credentials: passwords may contain "@", host names may not.
    userinfo, separator, hostport = rest.rpartition("@")
    if not separator:
        return None, None, rest
    username, _, password = userinfo.partition(":")
    return username, password, hostport


def _split_bracketed(hostport: str) -> tuple[str, list[str]] | None:
    host, separator, tail = hostport[1:].partition("]")
    if not separator or not tail.startswith(":"):
        return None
    return f"[{host}]", tail[1:].split(":", 2)


def _split_hostport(hostport: str) -> tuple[str, list[str]] | None:
    """The host and what follows it: [port] or [port, user, password]."""
    if hostport.startswith("["):
        return _split_bracketed(hostport)
    host, *tail = hostport.split(":", 3)
    return host, tail


def parse_line(line: str, default: ProxyProtocol) -> ProxyAddress | None:
    """One list line: `ip:port`, `proto://user:pass@host:port`, `ip:port:user:pass`, …"""
    token = first_token(line)
    if token is None:
        return None
    protocol, rest = _split_scheme(token, default)
    if protocol is None:
        return None
    username, password, hostport = _split_userinfo(rest.removesuffix("/"))
    split = _split_hostport(hostport)
    if split is None:
        return None
    return _from_parts(split[0], split[1], protocol, username, password)


def _from_parts(host: str, tail: list[str], protocol: ProxyProtocol,
                username: str | None, password: str | None) -> ProxyAddress | None:
    if len(tail) == 3 and username is None:
        port, username, password = tail
    elif len(tail) == 1:
        port = tail[0]
    else:
        return None
    return make_address(host, port, protocol, username, password)


def first_token(line: str) -> str | None:
    """The first word of a line, or None for blanks and comments."""
    words = line.split(None, 1)
    if not words or words[0].startswith(COMMENT_PREFIXES):
        return None
    return words[0]
