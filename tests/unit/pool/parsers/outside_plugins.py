"""Parsers as an outside package would ship them, for the entry point discovery tests."""

from __future__ import annotations

from collections.abc import Iterator

from proxyfleet.core.proxies import ProxyAddress, ProxyProtocol


class VendorParser:
    """Satisfies `SourceParser` without subclassing anything of proxyfleet."""

    name = "vendor"
    specificity = 100

    def supports(self, content: str, content_type: str | None) -> bool:
        return content.startswith("VENDOR\n")

    def parse(self, content: str, default_protocol: ProxyProtocol) -> Iterator[ProxyAddress]:
        yield ProxyAddress("203.0.113.7", 8080, default_protocol)


class RaisingParser(VendorParser):
    name = "raising"

    def supports(self, content: str, content_type: str | None) -> bool:
        raise RuntimeError("bug in an outside parser")


class Unconstructible(VendorParser):
    name = "unconstructible"

    def __init__(self) -> None:
        raise RuntimeError("needs settings it does not have")


class Nameless:
    def parse(self, content: str, default_protocol: ProxyProtocol) -> Iterator[ProxyAddress]:
        yield from ()


vendor_instance = VendorParser()
