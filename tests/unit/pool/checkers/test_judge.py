"""The judge's rules (`pool/judge.py`): the report it gives and the anonymity it reads off one.

Kept beside the checkers' tests because the checkers are the classifier's one user.
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxyfleet.core.proxies import Anonymity
from proxyfleet.pool.judge import (
    FORWARDING_HEADERS,
    PROXY_HEADERS,
    JudgeReport,
    classify_anonymity,
    judge_report,
    parse_ip,
)

OWN = "203.0.113.7"


def report(origin: str = "198.51.100.1", **headers: str) -> JudgeReport:
    named = {name.replace("_", "-"): value for name, value in headers.items()}
    return JudgeReport(origin=origin, headers={"Host": "judge.example:8080", **named})


# --- judge_report -------------------------------------------------------------------------

def test_report_has_origin_and_headers() -> None:
    assert judge_report("127.0.0.5", [("Host", "j:1"), ("Accept", "*/*")]) == {
        "origin": "127.0.0.5",
        "headers": {"Host": "j:1", "Accept": "*/*"},
    }


def test_report_title_cases_header_names_like_httpbin() -> None:
    got = judge_report("1.2.3.4", [("x-forwarded-for", "a"), ("VIA", "b")])
    assert got["headers"] == {"X-Forwarded-For": "a", "Via": "b"}


def test_report_joins_repeated_headers() -> None:
    got = judge_report("1.2.3.4", [("X-Forwarded-For", "1.1.1.1"), ("x-forwarded-for", "2.2.2.2")])
    assert got["headers"] == {"X-Forwarded-For": "1.1.1.1, 2.2.2.2"}


def test_report_of_no_headers() -> None:
    assert judge_report("::1", []) == {"origin": "::1", "headers": {}}


# --- classify_anonymity: elite ------------------------------------------------------------

def test_elite_when_the_judge_sees_neither_us_nor_proxy_headers() -> None:
    got = report(User_Agent="proxyfleet-checker", Accept="application/json", Connection="close")
    assert classify_anonymity(got, OWN) is Anonymity.ELITE


def test_our_address_in_the_host_header_is_not_transparency() -> None:
    # A judge on our own host: its Host header carries our address, the proxy gave nothing away.
    got = JudgeReport(origin="127.72.0.9", headers={"Host": "127.0.0.1:8080"})
    assert classify_anonymity(got, "127.0.0.1") is Anonymity.ELITE


def test_our_address_in_an_unrelated_header_is_not_transparency() -> None:
    got = report(Referer=f"http://{OWN}/", Cookie=f"ip={OWN}")
    assert classify_anonymity(got, OWN) is Anonymity.ELITE


# --- classify_anonymity: transparent ------------------------------------------------------

def test_transparent_when_the_judge_sees_us_as_the_peer() -> None:
    assert classify_anonymity(report(origin=OWN), OWN) is Anonymity.TRANSPARENT


def test_transparent_when_an_httpbin_origin_lists_us() -> None:
    assert classify_anonymity(report(origin=f"{OWN}, 198.51.100.1"), OWN) is Anonymity.TRANSPARENT


@pytest.mark.parametrize("header", sorted(FORWARDING_HEADERS - {"forwarded", "via"}))
def test_transparent_when_any_forwarding_header_names_us(header: str) -> None:
    got = report(**{header: OWN})
    assert classify_anonymity(got, OWN) is Anonymity.TRANSPARENT


@pytest.mark.parametrize(
    "value",
    [
        f"for={OWN}",
        f'for="{OWN}:4711"',
        f"For={OWN};proto=http;by=10.0.0.1",
        f"for=10.9.9.9, for={OWN}",
        f'for="[2001:db8::1]:80", for="{OWN}"',
        f"proto=https;for={OWN}",
    ],
)
def test_transparent_when_forwarded_for_names_us(value: str) -> None:
    assert classify_anonymity(report(Forwarded=value), OWN) is Anonymity.TRANSPARENT


def test_forwarded_by_us_is_not_for_us() -> None:
    # `by` names the proxy's own interface; only `for` names the client.
    got = classify_anonymity(report(Forwarded=f"for=10.0.0.1;by={OWN}"), OWN)
    assert got is Anonymity.ANONYMOUS


@pytest.mark.parametrize(
    "value", [f"1.1 {OWN}", f"1.1 {OWN}:3128 (squid/4.10)", f"1.0 fred, 1.1 {OWN}", f"1.1 ({OWN})"]
)
def test_transparent_when_via_names_us(value: str) -> None:
    assert classify_anonymity(report(Via=value), OWN) is Anonymity.TRANSPARENT


@pytest.mark.parametrize(
    "value",
    [
        f"10.0.0.1, {OWN}",
        f"{OWN},10.0.0.1",
        f"  {OWN}  ",
        f"{OWN}:51234",
        f'"{OWN}"',
        f"'{OWN}'",
        f"::ffff:{OWN}",
        f"[::ffff:{OWN}]:80",
        f"unknown, {OWN}",
    ],
)
def test_our_address_written_any_common_way_is_found(value: str) -> None:
    assert classify_anonymity(report(X_Forwarded_For=value), OWN) is Anonymity.TRANSPARENT


@pytest.mark.parametrize(
    ("own", "value"),
    [
        ("2001:db8::7", "2001:DB8:0:0::7"),
        ("2001:db8::7", "[2001:db8::7]:443"),
        ("2001:db8::7", "2001:db8::7%eth0"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("203.0.113.7", "::ffff:cb00:7107"),
    ],
)
def test_addresses_compare_as_addresses(own: str, value: str) -> None:
    assert classify_anonymity(report(X_Forwarded_For=value), own) is Anonymity.TRANSPARENT


def test_transparent_outranks_anonymous() -> None:
    got = report(Via="1.1 proxy", X_Forwarded_For=OWN, Proxy_Connection="keep-alive")
    assert classify_anonymity(got, OWN) is Anonymity.TRANSPARENT


def test_header_names_are_case_insensitive() -> None:
    got = JudgeReport(origin="198.51.100.1", headers={"x-FORWARDED-for": OWN})
    assert classify_anonymity(got, OWN) is Anonymity.TRANSPARENT


# --- classify_anonymity: anonymous --------------------------------------------------------

@pytest.mark.parametrize("header", sorted(PROXY_HEADERS))
def test_anonymous_when_any_proxy_header_arrives_without_us(header: str) -> None:
    got = report(**{header: "198.51.100.99"})
    assert classify_anonymity(got, OWN) is Anonymity.ANONYMOUS


@pytest.mark.parametrize(
    ("own", "value"),
    [
        ("127.0.0.1", "127.0.0.10"),
        ("127.0.0.1", "127.0.0.100:80"),
        ("127.0.0.1", "127.0.0.1.example"),
        ("127.0.0.1", "227.0.0.1"),
        ("10.0.0.1", "10.0.0.12, 110.0.0.1"),
        ("2001:db8::1", "2001:db8::10"),
        ("127.0.0.1", "::ffff:127.0.0.11"),
        ("127.0.0.1", "x127.0.0.1"),
        ("127.0.0.1", "127.0.0.1x"),
    ],
)
def test_our_address_as_a_substring_is_not_our_address(own: str, value: str) -> None:
    assert classify_anonymity(report(X_Forwarded_For=value), own) is Anonymity.ANONYMOUS


def test_x_forwarded_host_with_our_address_is_anonymous_not_transparent() -> None:
    # It names the target host (a judge on our own host), not the client.
    got = JudgeReport(origin="127.72.0.9",
                      headers={"Host": "127.0.0.1:8080", "X-Forwarded-Host": "127.0.0.1:8080"})
    assert classify_anonymity(got, "127.0.0.1") is Anonymity.ANONYMOUS


def test_leaked_proxy_authorization_is_anonymous() -> None:
    got = report(Proxy_Authorization="Basic dXNlcjpwYXNz")
    assert classify_anonymity(got, OWN) is Anonymity.ANONYMOUS


def test_garbage_in_forwarding_headers_is_anonymous() -> None:
    got = report(X_Forwarded_For="unknown, _hidden, , ::::, [, ]:80, 999.1.1.1")
    assert classify_anonymity(got, OWN) is Anonymity.ANONYMOUS


def test_own_ip_must_be_an_address() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        classify_anonymity(report(), "example.com")


# --- parse_ip -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("1.2.3.4", "1.2.3.4"),
        (" 1.2.3.4:80 ", "1.2.3.4"),
        ('"1.2.3.4"', "1.2.3.4"),
        ("[::1]", "::1"),
        ("[::1]:8080", "::1"),
        ("::1", "::1"),
        ("::ffff:1.2.3.4", "1.2.3.4"),
        ("[::ffff:1.2.3.4]:9", "1.2.3.4"),
        ("fe80::1%eth0", "fe80::1"),
        ("0.0.0.0", "0.0.0.0"),
    ],
)
def test_parse_ip_reads_common_spellings(token: str, expected: str) -> None:
    assert parse_ip(token) == ipaddress.ip_address(expected)


@pytest.mark.parametrize(
    "token",
    ["", "unknown", "_hidden", "1.2.3", "1.2.3.4:", "1.2.3.4:port", "1.2.3.4:1234567",
     "[1.2.3.4", "[::1]x", "::1:80:", "example.com", "1.2.3.4.5", "[::1]:", "::1]:80",
     "1.2.3.4:\u00b280", "[::1]:8\u0668"],  # digits to str.isdigit, no port to int
)
def test_parse_ip_rejects_what_is_no_address(token: str) -> None:
    assert parse_ip(token) is None


@given(st.ip_addresses(), st.integers(min_value=0, max_value=65535))
def test_any_address_with_any_port_is_found(ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
                                            port: int) -> None:
    written = f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"
    assert classify_anonymity(report(X_Forwarded_For=written), str(ip)) is Anonymity.TRANSPARENT


@given(st.ip_addresses(v=4), st.ip_addresses(v=4))
def test_a_different_address_is_never_ours(
    ours: ipaddress.IPv4Address, theirs: ipaddress.IPv4Address
) -> None:
    got = classify_anonymity(report(origin="198.51.100.1", X_Forwarded_For=str(theirs)), str(ours))
    expected = Anonymity.TRANSPARENT if ours == theirs else Anonymity.ANONYMOUS
    if str(ours) == "198.51.100.1":
        expected = Anonymity.TRANSPARENT
    assert got is expected


def test_credentials_are_named_but_never_repeated() -> None:
    made = judge_report("198.51.100.1", [("authorization", "Bearer pp_x"),
                                         ("COOKIE", "a=1"), ("Proxy-Authorization", "Basic e"),
                                         ("Accept", "*/*")])
    assert made["headers"] == {"Authorization": "[redacted]", "Cookie": "[redacted]",
                               "Proxy-Authorization": "[redacted]", "Accept": "*/*"}
    # A proxy that leaks its login is still seen doing so: anonymous, not elite.
    assert classify_anonymity(made, OWN) is Anonymity.ANONYMOUS
