"""The `plaintext` parser: one proxy per line, in any of the common spellings.

Imports `core` and this package's pure modules.
"""

from __future__ import annotations

from collections.abc import Iterator

from proxyfleet.core.proxies import ProxyAddress, ProxyProtocol
from proxyfleet.pool.parsers.address import parse_line
from proxyfleet.pool.parsers.plugin import ParserPlugin
from proxyfleet.pool.parsers.text import iter_lines


class PlaintextParser(ParserPlugin):
    name = "plaintext"
    specificity = 10

    def supports(self, content: str, content_type: str | None) -> bool:
        # The content type is no help: list hosts serve text as anything from text/html to
        # application/octet-stream. One proxy line is enough to call it a list.
        return any(self.parse(content, ProxyProtocol.HTTP))

    def parse(self, content: str, default_protocol: ProxyProtocol) -> Iterator[ProxyAddress]:
        for line in iter_lines(content):
            address = parse_line(line, default_protocol)
            if address is not None:
                yield address
