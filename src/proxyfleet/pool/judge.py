"""The judge's rules: what a judge reports about a request, and what that says about a proxy.

`judge_report` builds the httpbin-style answer a judge gives (`origin` and `headers`);
`classify_anonymity` reads such a report, fetched through a proxy, and tells how much of us
the proxy gave away. Addresses are compared as parsed IPs, never as text, so our address
appearing as a substring of another address, or in a header that names no client (Host,
X-Forwarded-Host), does not count. Pure: imports only `core` and the standard library.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Iterator
from typing import TypedDict

from proxyfleet.core.proxies import Anonymity

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class JudgeReport(TypedDict):
    """What the judge answers: the peer it saw and the headers it received."""

    origin: str
    headers: dict[str, str]


# Headers in which a proxy names the client it forwards for. Our address in any of them, or as
# the judge's peer, makes a proxy transparent.
FORWARDING_HEADERS = frozenset({
    "x-forwarded-for",
    "forwarded",
    "forwarded-for",
    "x-forwarded",
    "x-real-ip",
    "client-ip",
    "x-client-ip",
    "via",
    "x-originating-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "fastly-client-ip",
    "x-cluster-client-ip",
    "x-proxyuser-ip",
    "x-tinyproxy",  # tinyproxy's XTinyproxy option: the client's address
    "x-remote-ip",
    "x-remote-addr",
    "x-real-client-ip",
    "proxy-client-ip",
    "wl-proxy-client-ip",
    "x-coming-from",
    "coming-from",
})

# Headers only a proxy adds or leaks; seen without our address they make a proxy anonymous.
PROXY_HEADERS = FORWARDING_HEADERS | frozenset({
    "proxy-connection",
    "proxy-authorization",
    "x-proxy-id",
    "x-proxy-connection",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-server",
    "x-bluecoat-via",
    "x-via",
    "mt-proxy-id",
    "x-tinyproxy",
    "x-imforwards",
})

_QUOTES = "\"'"

# A judge answers whoever asks: it says that these came, never what they held.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
REDACTED = "[redacted]"


def judge_report(peer_ip: str, headers: Iterable[tuple[str, str]]) -> JudgeReport:
    """The judge's answer: repeated headers are joined with ", " as HTTP allows for lists;
    credentials (CREDENTIAL_HEADERS) are named but their values left out."""
    joined: dict[str, str] = {}
    for name, value in headers:
        key = _display_name(name)
        if key.lower() in CREDENTIAL_HEADERS:
            joined[key] = REDACTED
            continue
        joined[key] = f"{joined[key]}, {value}" if key in joined else value
    return JudgeReport(origin=peer_ip, headers=joined)


@functools.lru_cache(maxsize=1024)  # the same few header names, request after request
def _display_name(name: str) -> str:
    return "-".join(part.capitalize() for part in name.strip().split("-"))


def classify_anonymity(report: JudgeReport, own_public_ip: str) -> Anonymity:
    """How anonymous the proxy that carried the judge request is."""
    own = _address_key(own_public_ip)
    if own is None:
        raise ValueError(f"own public IP {own_public_ip!r} is not an IP address")
    if own in _origin_keys(report["origin"]):
        return Anonymity.TRANSPARENT
    proxy_seen = False
    for name, value in report["headers"].items():
        key = name.lower()
        if key in FORWARDING_HEADERS and own in _header_keys(value):
            return Anonymity.TRANSPARENT
        proxy_seen = proxy_seen or key in PROXY_HEADERS
    return Anonymity.ANONYMOUS if proxy_seen else Anonymity.ELITE


# Addresses are compared by their packed bytes (4 for IPv4, 16 for IPv6; mapped IPv4 is
# unwrapped by `parse_ip`): an `ipaddress` object hashes in Python, bytes in C, and the
# comparisons run at every check.

@functools.lru_cache(maxsize=64)  # our own address, the same check after check
def _address_key(text: str) -> bytes | None:
    ip = parse_ip(text)
    return None if ip is None else ip.packed


@functools.lru_cache(maxsize=4096)  # a proxy's exit address comes back at every check of it
def _origin_keys(origin: str) -> frozenset[bytes]:
    # httpbin-style judges put the forwarded chain into `origin` too: "client, proxy".
    return frozenset(ip.packed for ip in map(parse_ip, origin.split(",")) if ip is not None)


def _header_keys(value: str) -> frozenset[bytes]:
    return frozenset(ip.packed for ip in map(parse_ip, _address_tokens(value))
                     if ip is not None)


def _address_tokens(value: str) -> Iterator[str]:
    """Every candidate address in a header value: list items, `for=` parameters, Via parts."""
    for element in value.split(","):
        for pair in element.split(";"):
            yield from _pair_tokens(pair)


def _pair_tokens(pair: str) -> Iterator[str]:
    key, sep, rest = pair.partition("=")
    if sep:
        # RFC 7239 parameters: only `for` names the client; `by` is the proxy itself.
        if key.strip().lower() == "for":
            yield rest
        return
    # Via: "1.1 10.0.0.1:3128 (squid)" — any whitespace-separated word may be an address.
    yield from pair.replace("(", " ").replace(")", " ").split()


@functools.lru_cache(maxsize=4096)
def parse_ip(token: str) -> IPAddress | None:
    """An address written any common way: quoted, bracketed, with a port or zone; else None.

    IPv4-mapped IPv6 addresses become their IPv4 address, so `::ffff:1.2.3.4` equals `1.2.3.4`.
    Cached: our own address and the exit IPs come back check after check.
    """
    text = token.strip().strip(_QUOTES).strip()
    ip = _parse_bare(text) or _parse_bracketed(text) or _parse_ipv4_with_port(text)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _parse_bare(text: str) -> IPAddress | None:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    # A zone (fe80::1%eth0) names an interface, not a different host.
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id is not None:
        return ipaddress.IPv6Address(text.partition("%")[0])
    return ip


def _parse_bracketed(text: str) -> IPAddress | None:
    if not text.startswith("["):
        return None
    inside, closed, after = text[1:].partition("]")
    if not closed or (after and not _is_port(after)):
        return None
    return _parse_bare(inside)


def _parse_ipv4_with_port(text: str) -> IPAddress | None:
    host, sep, port = text.rpartition(":")
    if not sep or ":" in host or not _is_port(sep + port):
        return None
    ip = _parse_bare(host)
    return ip if isinstance(ip, ipaddress.IPv4Address) else None


def _is_port(suffix: str) -> bool:
    digits = suffix[1:]
    return suffix.startswith(":") and digits.isascii() and digits.isdigit() and len(suffix) <= 6
