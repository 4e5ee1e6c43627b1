"""The json parser: lists of strings or objects, bare or wrapped."""

from __future__ import annotations

import json

import pytest

from proxyfleet.core.proxies import ProxyAddress, ProxyProtocol
from proxyfleet.pool.parsers.json_list import JsonParser

HTTP, HTTPS = ProxyProtocol.HTTP, ProxyProtocol.HTTPS
SOCKS4, SOCKS5 = ProxyProtocol.SOCKS4, ProxyProtocol.SOCKS5


def parse(document: object, default: ProxyProtocol = HTTP) -> list[ProxyAddress]:
    return list(JsonParser().parse(json.dumps(document), default))


def test_a_list_of_strings_reads_each_as_a_line() -> None:
    assert parse(["1.2.3.4:80", "socks5://u:p@[2001:db8::1]:1080", "junk", 7]) == [
        ProxyAddress("1.2.3.4", 80, HTTP),
        ProxyAddress("2001:db8::1", 1080, SOCKS5, "u", "p"),
    ]


@pytest.mark.parametrize("host_field", ["ip", "host", "address", "addr", "server", "IP"])
def test_host_field_names(host_field: str) -> None:
    assert parse([{host_field: "1.2.3.4", "port": 80}]) == [ProxyAddress("1.2.3.4", 80, HTTP)]


@pytest.mark.parametrize("port", [8080, "8080", " 8080 "])
def test_port_as_string_or_int(port: object) -> None:
    assert parse([{"ip": "1.2.3.4", "port": port}]) == [ProxyAddress("1.2.3.4", 8080, HTTP)]


@pytest.mark.parametrize("port", [0, 70000, "x", None, True, 80.5, [80]])
def test_bad_ports_skip_the_entry(port: object) -> None:
    assert parse([{"ip": "1.2.3.4", "port": port}]) == []


@pytest.mark.parametrize("field", ["protocol", "type", "scheme"])
def test_protocol_field_names(field: str) -> None:
    assert parse([{"ip": "1.2.3.4", "port": 1080, field: "SOCKS5"}]) == [
        ProxyAddress("1.2.3.4", 1080, SOCKS5)]


def test_a_protocol_list_gives_one_proxy_per_protocol() -> None:
    entry = {"ip": "1.2.3.4", "port": 1080, "protocols": ["socks4", "socks5", "socks5h", "ftp"]}
    assert parse([entry]) == [ProxyAddress("1.2.3.4", 1080, SOCKS4),
                              ProxyAddress("1.2.3.4", 1080, SOCKS5)]


def test_an_unknown_protocol_drops_the_entry() -> None:
    assert parse([{"ip": "1.2.3.4", "port": 21, "protocol": "ftp"}]) == []


def test_no_protocol_uses_the_default() -> None:
    assert parse([{"ip": "1.2.3.4", "port": 1080, "protocols": []}], SOCKS4) == [
        ProxyAddress("1.2.3.4", 1080, SOCKS4)]


@pytest.mark.parametrize(("user_field", "password_field"), [
    ("username", "password"), ("user", "pass"), ("login", "password")])
def test_credential_field_names(user_field: str, password_field: str) -> None:
    entry = {"host": "proxy.example", "port": 80, user_field: "u", password_field: "p"}
    assert parse([entry]) == [ProxyAddress("proxy.example", 80, HTTP, "u", "p")]


def test_a_host_field_holding_a_whole_proxy() -> None:
    entries = [{"proxy": "socks5://1.2.3.4:1080"}, {"ip": "5.6.7.8:3128", "user": "u",
                                                     "pass": "p"}]
    assert parse(entries) == [ProxyAddress("1.2.3.4", 1080, SOCKS5),
                              ProxyAddress("5.6.7.8", 3128, HTTP, "u", "p")]


def test_an_unbracketed_ipv6_host_field() -> None:
    assert parse([{"ip": "2001:DB8::1", "port": 80}]) == [ProxyAddress("2001:db8::1", 80, HTTP)]


@pytest.mark.parametrize("wrapper", ["data", "proxies", "items", "results", "list"])
def test_wrapped_lists(wrapper: str) -> None:
    document = {"total": 1, "meta": {"page": 1, "list": "no"}, wrapper: ["1.2.3.4:80"],
                "next": None}
    assert parse(document) == [ProxyAddress("1.2.3.4", 80, HTTP)]


def test_nested_wrappers() -> None:
    assert parse({"data": {"count": 1, "proxies": [{"ip": "1.2.3.4", "port": 80}]}}) == [
        ProxyAddress("1.2.3.4", 80, HTTP)]


def test_a_truncated_document_keeps_what_came_before() -> None:
    content = '[{"ip": "1.2.3.4", "port": 80}, {"ip": "5.6.'
    assert list(JsonParser().parse(content, HTTP)) == [ProxyAddress("1.2.3.4", 80, HTTP)]


@pytest.mark.parametrize("content", [
    '["1.2.3.4:80"]', '\ufeff  [ "1.2.3.4:80" ]\n', '{"data": [{"ip": "1.2.3.4", "port": 80}]}',
    '{"proxies": ["junk"]}',
])
def test_supports_list_shaped_json(content: str) -> None:
    assert JsonParser().supports(content, None)


@pytest.mark.parametrize("content", [
    "", "1.2.3.4:80", "[]", "{}", '{"error": "rate limited"}', '{"data": []}', '["1.2.3.4:80"',
    '["1.2.3.4:80"] trailing', "[" * 5000, '"1.2.3.4:80"', "ip,port\n1.2.3.4,80",
    "{data: [1]}",
])
def test_does_not_support_other_content(content: str) -> None:
    assert not JsonParser().supports(content, "application/json")
