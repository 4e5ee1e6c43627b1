"""The csv parser: headers by name, any delimiter, headerless rows by position."""

from __future__ import annotations

import pytest

from proxyfleet.core.proxies import ProxyAddress, ProxyProtocol
from proxyfleet.pool.parsers.csv_table import CsvParser, delimiter_of, positional_address

HTTP, HTTPS = ProxyProtocol.HTTP, ProxyProtocol.HTTPS
SOCKS4, SOCKS5 = ProxyProtocol.SOCKS4, ProxyProtocol.SOCKS5


def parse(content: str, default: ProxyProtocol = HTTP) -> list[ProxyAddress]:
    return list(CsvParser().parse(content, default))


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_any_delimiter_with_a_header(delimiter: str) -> None:
    rows = [["ip", "port", "protocol", "country"], ["1.2.3.4", "1080", "socks5", "US"],
            ["5.6.7.8", "8080", "", "DE"]]
    content = "\n".join(delimiter.join(row) for row in rows)
    assert parse(content) == [ProxyAddress("1.2.3.4", 1080, SOCKS5),
                              ProxyAddress("5.6.7.8", 8080, HTTP)]


def test_header_names_in_any_order_and_spelling() -> None:
    content = ('Country,"Proxy Port","IP Address",Login,Pass,Type\n'
               'US,3128,Proxy.Example.com,u,p,HTTPS\n')
    assert parse(content) == [ProxyAddress("proxy.example.com", 3128, HTTPS, "u", "p")]


def test_a_header_with_a_whole_proxy_column() -> None:
    assert parse("proxy,country\nsocks5://1.2.3.4:1080,US\n") == [
        ProxyAddress("1.2.3.4", 1080, SOCKS5)]


def test_bad_rows_are_skipped() -> None:
    content = "host,port\n999.1.1.1,80\n1.2.3.4,0\n\n# note\n1.2.3.4\n\"unclosed,80\n5.6.7.8,80\n"
    assert parse(content) == [ProxyAddress("5.6.7.8", 80, HTTP)]


def test_an_unknown_protocol_value_drops_the_row_when_named_by_header() -> None:
    assert parse("ip,port,type\n1.2.3.4,80,elite\n") == []


@pytest.mark.parametrize(("row", "expected"), [
    ("1.2.3.4,80", ProxyAddress("1.2.3.4", 80, SOCKS4)),
    ("1.2.3.4,80,socks5", ProxyAddress("1.2.3.4", 80, SOCKS5)),
    ("1.2.3.4,80,u,p", ProxyAddress("1.2.3.4", 80, SOCKS4, "u", "p")),
    ("1.2.3.4,80,https,u,p", ProxyAddress("1.2.3.4", 80, HTTPS, "u", "p")),
    ("1.2.3.4,80,US", ProxyAddress("1.2.3.4", 80, SOCKS4)),
    ("1.2.3.4;80;socks4a", ProxyAddress("1.2.3.4", 80, SOCKS4)),
    ("2001:db8::1|80", ProxyAddress("2001:db8::1", 80, SOCKS4)),
])
def test_headerless_rows(row: str, expected: ProxyAddress) -> None:
    assert parse(row + "\n", SOCKS4) == [expected]


def test_headerless_row_needs_ip_and_port() -> None:
    assert positional_address(["1.2.3.4"], HTTP) is None


@pytest.mark.parametrize(("line", "expected"), [
    ("a,b", ","), ("a;b;c,d", ";"), ("a\tb", "\t"), ("a|b", "|"), ("1.2.3.4:80", None)])
def test_delimiter_choice(line: str, expected: str | None) -> None:
    assert delimiter_of(line) == expected


@pytest.mark.parametrize("content", [
    "ip,port\n1.2.3.4,80\n", "Host;Port\n", "# exported\nserver|port\n", "1.2.3.4,80\n",
    "proxy\tcountry\n"])
def test_supports_tables(content: str) -> None:
    assert CsvParser().supports(content, "text/csv")


@pytest.mark.parametrize("content", [
    "", "1.2.3.4:80\n5.6.7.8:80\n", "name,age\nbob,3\n", "ip port\n1.2.3.4 80\n",
    '["1.2.3.4:80"]', "1.2.3.4:8080 # US, elite\n"])
def test_does_not_support_other_content(content: str) -> None:
    assert not CsvParser().supports(content, "text/csv")
