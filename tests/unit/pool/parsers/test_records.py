"""Records: field names lists use, and the protocols a record names."""

from __future__ import annotations

import pytest

from proxyfleet.core.proxies import ProxyProtocol
from proxyfleet.pool.parsers.records import Field, field_named, protocols_of, record_of

HTTP, SOCKS4, SOCKS5 = ProxyProtocol.HTTP, ProxyProtocol.SOCKS4, ProxyProtocol.SOCKS5


@pytest.mark.parametrize(("name", "expected"), [
    ("ip", Field.HOST), (" IP ", Field.HOST), ('"Host"', Field.HOST), ("IP Address", Field.HOST),
    ("ip-address", Field.HOST), ("Port", Field.PORT), ("protocols", Field.PROTOCOL),
    ("Login", Field.USERNAME), ("pass", Field.PASSWORD), ("proxy", Field.LINE),
    ("country", None), ("", None),
])
def test_field_names(name: str, expected: Field | None) -> None:
    assert field_named(name) is expected


def test_the_first_column_of_a_meaning_wins() -> None:
    assert record_of([("ip", "1.1.1.1"), ("host", "2.2.2.2"), ("x", 1)]) == {
        Field.HOST: "1.1.1.1"}


@pytest.mark.parametrize(("value", "expected"), [
    (None, [HTTP]), ("", [HTTP]), ([], [HTTP]), ("socks5", [SOCKS5]),
    ("socks4, socks5", [SOCKS4, SOCKS5]), ("socks4/socks5h", [SOCKS4, SOCKS5]),
    (["socks5", "SOCKS5H"], [SOCKS5]), ("elite", []), (42, [HTTP]), (["x", 1], []),
])
def test_protocols(value: object, expected: list[ProxyProtocol]) -> None:
    assert protocols_of(value, HTTP) == expected
