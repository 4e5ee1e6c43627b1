"""One line or one set of fields to a proxy: every spelling lists use, and the junk they hold."""

from __future__ import annotations

import pytest

from proxyfleet.core.proxies import ProxyAddress, ProxyProtocol
from proxyfleet.pool.parsers.address import (
    first_token,
    make_address,
    parse_line,
    protocol_named,
    valid_host,
    valid_port,
)

HTTP, HTTPS = ProxyProtocol.HTTP, ProxyProtocol.HTTPS
SOCKS4, SOCKS5 = ProxyProtocol.SOCKS4, ProxyProtocol.SOCKS5


@pytest.mark.parametrize(("line", "expected"), [
    ("1.2.3.4:8080", ProxyAddress("1.2.3.4", 8080, HTTP)),
    ("  1.2.3.4:8080  ", ProxyAddress("1.2.3.4", 8080, HTTP)),
    ("1.2.3.4:8080\r", ProxyAddress("1.2.3.4", 8080, HTTP)),
    ("socks5://1.2.3.4:1080", ProxyAddress("1.2.3.4", 1080, SOCKS5)),
    ("HTTPS://1.2.3.4:443", ProxyAddress("1.2.3.4", 443, HTTPS)),
    ("socks5h://1.2.3.4:1080", ProxyAddress("1.2.3.4", 1080, SOCKS5)),
    ("socks4a://1.2.3.4:1080", ProxyAddress("1.2.3.4", 1080, SOCKS4)),
    ("socks4://1.2.3.4:1080", ProxyAddress("1.2.3.4", 1080, SOCKS4)),
    ("http://user:pass@1.2.3.4:3128", ProxyAddress("1.2.3.4", 3128, HTTP, "user", "pass")),
    ("socks5://u:p@proxy.example.com:1080",
     ProxyAddress("proxy.example.com", 1080, SOCKS5, "u", "p")),
    ("1.2.3.4:8080:user:pass", ProxyAddress("1.2.3.4", 8080, HTTP, "user", "pass")),
    ("1.2.3.4:8080:user:pa:ss", ProxyAddress("1.2.3.4", 8080, HTTP, "user", "pa:ss")),
    ("user:pass@1.2.3.4:8080", ProxyAddress("1.2.3.4", 8080, HTTP, "user", "pass")),
    ("user:p@ss@1.2.3.4:8080", ProxyAddress("1.2.3.4", 8080, HTTP, "user", "p@ss")),
    ("user@1.2.3.4:8080", ProxyAddress("1.2.3.4", 8080, HTTP, "user", None)),
    ("user:@1.2.3.4:8080", ProxyAddress("1.2.3.4", 8080, HTTP, "user", None)),
    ("[2001:db8::1]:8080", ProxyAddress("2001:db8::1", 8080, HTTP)),
    ("[2001:DB8:0:0::1]:8080", ProxyAddress("2001:db8::1", 8080, HTTP)),
    ("socks5://[2001:db8::1]:1080", ProxyAddress("2001:db8::1", 1080, SOCKS5)),
    ("socks5://u:p@[2001:db8::1]:1080", ProxyAddress("2001:db8::1", 1080, SOCKS5, "u", "p")),
    ("[2001:db8::1]:8080:u:p", ProxyAddress("2001:db8::1", 8080, HTTP, "u", "p")),
    ("Proxy.Example.COM:3128", ProxyAddress("proxy.example.com", 3128, HTTP)),
    ("localhost:3128", ProxyAddress("localhost", 3128, HTTP)),
    ("http://1.2.3.4:8080/", ProxyAddress("1.2.3.4", 8080, HTTP)),
    ("1.2.3.4:8080 US elite 120ms", ProxyAddress("1.2.3.4", 8080, HTTP)),
    ("1.2.3.4:8080\t# fast one", ProxyAddress("1.2.3.4", 8080, HTTP)),
    ("1.2.3.4:1", ProxyAddress("1.2.3.4", 1, HTTP)),
    ("1.2.3.4:65535", ProxyAddress("1.2.3.4", 65535, HTTP)),
])
def test_line_spellings(line: str, expected: ProxyAddress) -> None:
    assert parse_line(line, HTTP) == expected


@pytest.mark.parametrize("line", [
    "", "   ", "\t\r",
    "# 1.2.3.4:8080", "// 1.2.3.4:8080", "#1.2.3.4:8080", "; 1.2.3.4:8080",
    "1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:99999", "1.2.3.4:-1", "1.2.3.4:80a", "1.2.3.4:",
    "1.2.3.4", "1.2.3.4:\uff18\uff10",
    "999.1.1.1:80", "1.2.3:80", "1.2.3.4.5:80", "256.0.0.1:80", "01.2.3.4:80",
    "2001:db8::1:8080", "[2001:db8::1]", "[2001:db8::1]8080", "[not-ip]:80", "[fe80::1%eth0]:80",
    "ftp://1.2.3.4:21", "gopher://1.2.3.4:70", "://1.2.3.4:80", "http://", "http://:80",
    ":pass@1.2.3.4:80", "u:p@1.2.3.4:80:x:y",
    "<td>1.2.3.4:8080</td>", "<html>", "</body>", "<a href='http://1.2.3.4:80'>x</a>",
    "Copyright: 2024", "12:30", "a:b:c", "host_-.:80", "-bad.example:80",
    "1.2.3.4:80:onlyuser", "😀.example:80",
])
def test_junk_is_skipped(line: str) -> None:
    assert parse_line(line, HTTP) is None


def test_line_protocol_wins_over_default() -> None:
    assert parse_line("socks4://1.2.3.4:1080", SOCKS5) == ProxyAddress("1.2.3.4", 1080, SOCKS4)


def test_default_protocol_when_the_line_names_none() -> None:
    assert parse_line("1.2.3.4:1080", SOCKS5) == ProxyAddress("1.2.3.4", 1080, SOCKS5)


def test_credentials_keep_their_case() -> None:
    address = parse_line("HTTP://UsEr:PaSs@HOST.example:80", HTTP)
    assert address == ProxyAddress("host.example", 80, HTTP, "UsEr", "PaSs")


@pytest.mark.parametrize(("name", "expected"), [
    ("http", HTTP), ("HTTPS", HTTPS), (" socks5h ", SOCKS5), ("socks4a", SOCKS4),
    ("socks", SOCKS5), ("ftp", None), ("", None),
])
def test_protocol_names(name: str, expected: ProxyProtocol | None) -> None:
    assert protocol_named(name) is expected


@pytest.mark.parametrize(("text", "expected"), [
    ("1", 1), ("65535", 65535), ("0", None), ("65536", None), ("", None), (" 80", None),
    ("080", 80), ("123456", None), ("\u0668\u0660", None),
])
def test_ports(text: str, expected: int | None) -> None:
    assert valid_port(text) == expected


@pytest.mark.parametrize(("host", "expected"), [
    ("1.2.3.4", "1.2.3.4"), ("2001:DB8::1", "2001:db8::1"), ("[2001:db8::1]", "2001:db8::1"),
    ("Example.COM", "example.com"), ("999.1.1.1", None), ("", None), ("a..b", None),
    ("x" * 64 + ".com", None), ("under_score.example", "under_score.example"),
])
def test_hosts(host: str, expected: str | None) -> None:
    assert valid_host(host) == expected


def test_fields_allow_an_unbracketed_ipv6_host() -> None:
    assert make_address("2001:db8::1", "8080", HTTP) == ProxyAddress("2001:db8::1", 8080, HTTP)


def test_fields_reject_an_empty_username() -> None:
    assert make_address("1.2.3.4", 80, HTTP, "", "secret") is None


@pytest.mark.parametrize(("line", "expected"), [
    ("a b", "a"), ("  # c", None), ("", None), ("//x", None), ("x\ty", "x"),
])
def test_first_token(line: str, expected: str | None) -> None:
    assert first_token(line) == expected


@pytest.mark.parametrize(("host", "expected"), [
    ("1.example.com", "1.example.com"),  # an all-digit first label is a name
    ("123.example", "123.example"),
    ("example.123", None),  # an all-digit last label is a broken address
    ("a.b.c.4", None),
    ("4", None),
])
def test_only_the_last_label_may_not_be_all_digits(host: str, expected: str | None) -> None:
    assert valid_host(host) == expected


def test_host_names_up_to_253_characters() -> None:
    longest = ".".join(["a" * 63] * 3 + ["b" * 61])
    assert len(longest) == 253
    assert valid_host(longest) == longest
    assert valid_host(longest + "c") is None
    assert valid_host("a" * 64 + ".com") is None  # a label is at most 63


def test_logins_are_at_most_255_bytes_and_hold_no_nul() -> None:
    assert make_address("1.2.3.4", 80, ProxyProtocol.HTTP, "u" * 255, "p" * 255) is not None
    assert make_address("1.2.3.4", 80, ProxyProtocol.HTTP, "u" * 256, "p") is None
    assert make_address("1.2.3.4", 80, ProxyProtocol.HTTP, "u", "é" * 128) is None
    assert make_address("1.2.3.4", 80, ProxyProtocol.HTTP, "u\x00", "p") is None
    assert make_address("1.2.3.4", 80, ProxyProtocol.HTTP, "u", "p\x00") is None
