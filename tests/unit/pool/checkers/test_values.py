"""The pipeline's plain values and small rules: findings, error wording, the judge's address
and request, reading a judge report, the exit IP, and the offline country lookup."""

from __future__ import annotations

import errno
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxyfleet.core.proxies import Anonymity, ProxyAddress, ProxyProtocol
from proxyfleet.pool.checkers import CheckContext, CheckOutcome, Findings
from proxyfleet.pool.checkers.errors import BadJudgeAnswer, HandshakeError, describe
from proxyfleet.pool.checkers.geoip import GeoIp, country_of
from proxyfleet.pool.checkers.judging import (
    JudgeAddress,
    _json_document,
    content_length,
    judge_request,
    parse_report,
)
from proxyfleet.pool.checkers.protocol import exit_ip_of
from proxyfleet.pool.judge import PROXY_HEADERS, JudgeReport

# --- Findings -----------------------------------------------------------------------------


def test_newer_findings_win_where_they_know_something() -> None:
    older = Findings(exit_ip="1.1.1.1", anonymity=Anonymity.ELITE, protocol=ProxyProtocol.HTTP)
    newer = Findings(country="AU", exit_ip="1.0.0.1")
    assert older.merged(newer) == Findings("1.0.0.1", Anonymity.ELITE, "AU", ProxyProtocol.HTTP)


def test_empty_findings_change_nothing() -> None:
    known = Findings("1.1.1.1", Anonymity.ANONYMOUS, "AU", ProxyProtocol.SOCKS5)
    assert known.merged(Findings()) == known
    assert Findings().merged(known) == known


def test_failed_outcome() -> None:
    assert CheckOutcome.failed("nope", 3.0) == CheckOutcome(False, 3.0, "nope", Findings())


# --- error wording ------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("error", "words"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed"), "connection refused"),
        (ConnectionRefusedError("Connect call failed ('1.2.3.4', 1)"), "connection refused"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), "connection reset"),
        (OSError(errno.EHOSTUNREACH, "x"), "host unreachable"),
        (OSError(errno.EMFILE, "x"), "too many open files on the checker"),
        (HandshakeError("SOCKS5 says no"), "SOCKS5 says no"),
        (OSError(errno.EPERM, "nope"), "PermissionError: [Errno 1] nope"),
    ],
)
def test_network_errors_are_said_plainly(error: OSError, words: str) -> None:
    assert describe(error) == words


# --- the judge's address and request -------------------------------------------------------

@pytest.mark.parametrize(
    ("url", "host", "port", "path"),
    [
        ("http://127.0.0.1:8080/judge", "127.0.0.1", 8080, "/judge"),
        ("http://judge.example/judge?x=1", "judge.example", 80, "/judge?x=1"),
        ("http://[::1]:81", "::1", 81, "/"),
    ],
)
def test_judge_address_from_url(url: str, host: str, port: int, path: str) -> None:
    assert JudgeAddress.from_url(url) == JudgeAddress(host, port, path)


@pytest.mark.parametrize("url", ["https://judge.example/judge", "judge.example/judge", "http:///x"])
def test_judge_must_be_plain_http(url: str) -> None:
    with pytest.raises(ValueError, match="judge URL"):
        JudgeAddress.from_url(url)


def test_judge_url_brackets_ipv6() -> None:
    assert JudgeAddress("::1", 81, "/judge").url == "http://[::1]:81/judge"


def test_judge_request_through_an_http_proxy_is_absolute_with_credentials() -> None:
    got = judge_request(JudgeAddress("127.0.0.1", 81, "/judge"), absolute=True,
                        authorization="Basic abc")
    assert got == (
        b"GET http://127.0.0.1:81/judge HTTP/1.1\r\nHost: 127.0.0.1:81\r\n"
        b"User-Agent: proxyfleet-checker\r\nAccept: application/json\r\nConnection: close\r\n"
        b"Proxy-Authorization: Basic abc\r\n\r\n"
    )


def test_judge_request_inside_a_tunnel_is_origin_form_without_credentials() -> None:
    got = judge_request(JudgeAddress("127.0.0.1", 81, "/judge"), absolute=False,
                        authorization=None)
    assert got.startswith(b"GET /judge HTTP/1.1\r\n")
    assert b"Proxy-" not in got


def test_our_requests_carry_no_header_that_would_look_like_a_proxy() -> None:
    request = judge_request(JudgeAddress("j", 80, "/"), absolute=False, authorization=None)
    names = {line.split(b":")[0].decode().lower() for line in request.split(b"\r\n")[1:] if line}
    assert names.isdisjoint(PROXY_HEADERS)


# --- reading a report ---------------------------------------------------------------------

def test_parse_report() -> None:
    got = parse_report(b'{"origin": "1.2.3.4", "headers": {"Via": "1.1 x", "N": 5}}')
    assert got == {"origin": "1.2.3.4", "headers": {"Via": "1.1 x", "N": "5"}}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"<html>blocked</html>", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"origin": "1.2.3.4"}', "lacks"),
        (b'{"origin": 5, "headers": {}}', "lacks"),
    ],
)
def test_parse_report_rejects_what_is_no_report(body: bytes, words: str) -> None:
    with pytest.raises(BadJudgeAnswer, match=words):
        parse_report(body)


@pytest.mark.parametrize("value", ["x", "-1", "\u00b2", "1\u0668"])
def test_a_content_length_of_anything_but_ascii_digits_fails_the_check(value: str) -> None:
    with pytest.raises(HandshakeError, match="bad Content-Length"):
        content_length([("Content-Length", value)])


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12)
_json_space = st.text(alphabet=" \t\n\r\x0b\xa0", max_size=3)


@given(_json_values, _json_space, _json_space)
def test_the_report_is_read_as_json_loads_reads_it(value: object, before: str,
                                                   after: str) -> None:
    text = before + json.dumps(value) + after
    try:
        expected = json.loads(text)
    except json.JSONDecodeError:  # white space JSON does not allow around the document
        with pytest.raises(json.JSONDecodeError):
            _json_document(text)
        return
    assert _json_document(text) == expected


@given(st.text(alphabet='{}[]",:0123456789.eE+-tfnrulase \\\t', max_size=30))
def test_text_json_loads_rejects_is_rejected(text: str) -> None:
    try:
        expected = json.loads(text)
    except json.JSONDecodeError:
        with pytest.raises(json.JSONDecodeError):
            _json_document(text)
        return
    assert _json_document(text) == expected


def test_a_report_with_a_byte_order_mark_or_in_utf16_is_read() -> None:
    body = '{"origin": "1.2.3.4", "headers": {}}'
    assert parse_report(b"\xef\xbb\xbf" + body.encode())["origin"] == "1.2.3.4"
    assert parse_report(body.encode("utf-16"))["origin"] == "1.2.3.4"


@pytest.mark.parametrize(
    ("origin", "exit_ip"),
    [("1.2.3.4", "1.2.3.4"), ("9.9.9.9, 1.2.3.4", "1.2.3.4"), ("::ffff:1.2.3.4", "1.2.3.4"),
     ("2001:db8::1", "2001:db8::1"), ("judge-says-hi", None)],
)
def test_exit_ip_is_the_address_the_judge_saw(origin: str, exit_ip: str | None) -> None:
    assert exit_ip_of(JudgeReport(origin=origin, headers={})) == exit_ip


# --- geoip --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("address", "country"),
    [("8.8.8.8", "US"), ("1.1.1.1", "AU"), ("81.2.69.160", "GB"), ("::ffff:8.8.8.8", "US"),
     ("2001:4860::1", "US"), ("127.0.0.1", None), ("10.1.2.3", None), ("192.168.0.1", None),
     ("::1", None), ("fe80::1", None), ("not an address", None)],
)
def test_country_of_comes_from_the_offline_database(address: str, country: str | None) -> None:
    assert country_of(address) == country


CTX = CheckContext(judge_url="http://127.0.0.1:1/judge", own_ip="127.0.0.1")
PROXY = ProxyAddress("10.0.0.1", 3128, ProxyProtocol.HTTP)


async def test_geoip_finds_the_country_of_the_exit_ip() -> None:
    ctx = CheckContext(CTX.judge_url, CTX.own_ip, findings=Findings(exit_ip="1.1.1.1"))
    outcome = await GeoIp().check(PROXY, ctx)
    assert outcome.passed
    assert outcome.findings.country == "AU"
    assert outcome.detail == "1.1.1.1 is in AU"


async def test_geoip_of_a_private_exit_is_no_failure() -> None:
    ctx = CheckContext(CTX.judge_url, CTX.own_ip, findings=Findings(exit_ip="127.72.0.1"))
    outcome = await GeoIp().check(PROXY, ctx)
    assert outcome == CheckOutcome(True, None, "no country for 127.72.0.1")


async def test_geoip_without_an_exit_ip_is_no_failure() -> None:
    outcome = await GeoIp().check(PROXY, CTX)
    assert outcome == CheckOutcome(True, None, "no exit IP to locate")
