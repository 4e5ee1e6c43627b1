"""Properties of every parser: junk never raises, and valid proxies survive a round trip."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import string

from hypothesis import given
from hypothesis import strategies as st

from proxyfleet.core.proxies import ProxyAddress, ProxyProtocol
from proxyfleet.pool.parsers import ParserRegistry
from proxyfleet.pool.parsers.csv_table import CsvParser
from proxyfleet.pool.parsers.json_list import JsonParser
from proxyfleet.pool.parsers.plaintext import PlaintextParser

PARSERS = (PlaintextParser(), JsonParser(), CsvParser())
REGISTRY = ParserRegistry(PARSERS)

# Text rich in the characters the parsers branch on, so junk reaches deep paths.
list_junk = st.text(alphabet=string.digits + "[]{}:,;|\t\n\r\"'.@/#-_ abcfhpstx\\\x00\ufeff")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["ip", "port", "data", "protocols", "user", "x"]) | st.text(), inner,
        max_size=4),
    max_leaves=20)
any_text = st.one_of(st.text(), list_junk, st.binary().map(lambda raw: raw.decode("latin-1")),
                     json_values.map(json.dumps))

hostnames = st.from_regex(r"[a-z]([a-z0-9-]{0,8}[a-z0-9])?(\.[a-z][a-z0-9]{0,6}){0,3}",
                          fullmatch=True)
hosts = st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str), hostnames)
usernames = st.text(alphabet=string.ascii_letters + string.digits + "-._~!$&'()*+,;=%",
                    min_size=1, max_size=12)
passwords = st.text(alphabet=string.ascii_letters + string.digits + "-._~!$&'()*+,;=%:@/",
                    min_size=1, max_size=12)


@st.composite
def addresses(draw: st.DrawFn) -> ProxyAddress:
    credentials = draw(st.none() | st.tuples(usernames, passwords | st.none()))
    username, password = credentials or (None, None)
    return ProxyAddress(draw(hosts), draw(st.integers(1, 65535)),
                        draw(st.sampled_from(ProxyProtocol)), username, password)


@given(any_text, st.sampled_from(ProxyProtocol))
def test_parsers_never_raise_on_any_text(content: str, default: ProxyProtocol) -> None:
    for parser in PARSERS:
        parser.supports(content, None)
        for address in parser.parse(content, default):
            assert isinstance(address, ProxyAddress)


@given(any_text)
def test_detection_never_raises(content: str) -> None:
    REGISTRY.detect(content, "text/plain")


@given(st.lists(st.tuples(addresses(), st.booleans()), max_size=30),
       st.sampled_from(ProxyProtocol))
def test_plaintext_round_trip(entries: list[tuple[ProxyAddress, bool]],
                              default: ProxyProtocol) -> None:
    # A bare netloc carries neither protocol nor credentials: those come from the default.
    lines = [a.url(with_credentials=True) if full else a.netloc for a, full in entries]
    expected = [a if full else ProxyAddress(a.host, a.port, default) for a, full in entries]
    content = "# generated\n" + "\n".join(lines)
    assert list(PlaintextParser().parse(content, default)) == expected


@given(st.lists(addresses(), min_size=1, max_size=30))
def test_plaintext_round_trip_is_detected(entries: list[ProxyAddress]) -> None:
    content = "\n".join(a.url(with_credentials=True) for a in entries)
    detected = REGISTRY.detect(content, None)
    assert detected is not None
    assert detected.name == "plaintext"


@given(st.lists(addresses(), min_size=1, max_size=30))
def test_json_objects_round_trip(entries: list[ProxyAddress]) -> None:
    document = {"total": len(entries), "data": [
        {"ip": a.host, "port": str(a.port), "type": a.protocol.value.upper(),
         "username": a.username, "password": a.password} for a in entries]}
    content = json.dumps(document)
    assert REGISTRY.detect(content, None) is PARSERS[1]
    assert list(JsonParser().parse(content, ProxyProtocol.HTTP)) == entries


@given(st.lists(addresses(), min_size=1, max_size=30), st.sampled_from(",;\t|"))
def test_csv_round_trip(entries: list[ProxyAddress], delimiter: str) -> None:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(["Host", "Port", "Protocol", "Login", "Password"])
    writer.writerows([a.host, a.port, a.protocol.value, a.username or "", a.password or ""]
                     for a in entries)
    content = out.getvalue()
    # An empty CSV cell cannot say "no password" apart from "empty password".
    expected = [dataclasses.replace(a, password=a.password or None) for a in entries]
    assert REGISTRY.detect(content, "text/csv") is PARSERS[2]
    assert list(CsvParser().parse(content, ProxyProtocol.HTTP)) == expected
