"""The `json` parser: a list of proxy strings or objects, bare or wrapped in an object.

Imports `core` and this package's pure modules.
"""

from __future__ import annotations

from collections.abc import Iterator

from proxyfleet.core.proxies import ProxyAddress, ProxyProtocol
from proxyfleet.pool.parsers.address import parse_line
from proxyfleet.pool.parsers.jsonscan import iter_entries
from proxyfleet.pool.parsers.plugin import ParserPlugin
from proxyfleet.pool.parsers.records import addresses_of, record_of

# RecursionError: a document nested thousands deep is junk, not a list.
_MALFORMED = (ValueError, RecursionError)


def _addresses(entry: object, default: ProxyProtocol) -> Iterator[ProxyAddress]:
    if isinstance(entry, str):
        address = parse_line(entry, default)
        if address is not None:
            yield address
    elif isinstance(entry, dict):
        yield from addresses_of(record_of(entry.items()), default)


class JsonParser(ParserPlugin):
    name = "json"
    specificity = 30

    def supports(self, content: str, content_type: str | None) -> bool:
        # Valid JSON of a list shape with at least one entry; the content type is not
        # trusted because hosts label JSON as text/plain and text as application/json.
        if not content.lstrip("\ufeff \t\r\n").startswith(("[", "{")):
            return False
        try:
            return sum(1 for _ in iter_entries(content)) > 0
        except _MALFORMED:
            return False

    def parse(self, content: str, default_protocol: ProxyProtocol) -> Iterator[ProxyAddress]:
        # Entries before a malformed spot are kept: a truncated list still names proxies.
        try:
            for entry in iter_entries(content):
                yield from _addresses(entry, default_protocol)
        except _MALFORMED:
            return
