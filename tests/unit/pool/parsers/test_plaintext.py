"""The plaintext parser: a whole list, streamed."""

from __future__ import annotations

import types

from proxyfleet.core.proxies import ProxyAddress, ProxyProtocol
from proxyfleet.pool.parsers.plaintext import PlaintextParser

HTTP, SOCKS5 = ProxyProtocol.HTTP, ProxyProtocol.SOCKS5

MIXED_LIST = """\
# Free proxy list, updated hourly
// mirrored from elsewhere
<html><body><pre>
1.2.3.4:8080
socks5://u:p@[2001:db8::1]:1080   fast

5.6.7.8:3128:bob:secret
999.1.1.1:80
1.2.3.4:0
</pre></body></html>
Proxy.Example.com:3128 US
"""


def test_a_mixed_list_yields_only_the_proxies() -> None:
    parsed = list(PlaintextParser().parse(MIXED_LIST, HTTP))
    assert parsed == [
        ProxyAddress("1.2.3.4", 8080, HTTP),
        ProxyAddress("2001:db8::1", 1080, SOCKS5, "u", "p"),
        ProxyAddress("5.6.7.8", 3128, HTTP, "bob", "secret"),
        ProxyAddress("proxy.example.com", 3128, HTTP),
    ]


def test_every_line_ending_splits_lines() -> None:
    content = "1.1.1.1:80\r\n2.2.2.2:80\r3.3.3.3:80\n"
    assert [a.host for a in PlaintextParser().parse(content, HTTP)] == [
        "1.1.1.1", "2.2.2.2", "3.3.3.3"]


def test_default_protocol_applies_to_bare_lines() -> None:
    parsed = list(PlaintextParser().parse("1.1.1.1:80\nhttp://2.2.2.2:80", SOCKS5))
    assert [a.protocol for a in parsed] == [SOCKS5, HTTP]


def test_parse_is_lazy() -> None:
    content = "\n".join(f"10.0.{i >> 8 & 255}.{i & 255}:80" for i in range(200_000))
    stream = PlaintextParser().parse(content, HTTP)
    assert isinstance(stream, types.GeneratorType)
    assert next(stream) == ProxyAddress("10.0.0.0", 80, HTTP)
    assert sum(1 for _ in stream) == 199_999


def test_supports_a_list_with_one_proxy_among_junk() -> None:
    assert PlaintextParser().supports("<p>hello</p>\n1.2.3.4:80\n", "text/html")


def test_does_not_support_a_page_without_proxies() -> None:
    page = "<!doctype html>\n<html><head><title>Proxies: 0</title></head>\n<body>None today, " \
           "sorry.</body></html>\n"
    assert not PlaintextParser().supports(page, "text/html")
    assert not PlaintextParser().supports("", None)
