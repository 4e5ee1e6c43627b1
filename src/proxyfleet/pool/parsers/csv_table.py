"""The `csv` parser: rows of proxies, with a header naming the columns or in the usual order.

With a header, columns are matched by name (`ip`, `port`, `protocol`, …; see `Field`).
Without one, rows are read as ip, port[, protocol][, user, pass]. Imports `core` and this
package's pure modules.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from itertools import chain

from proxyfleet.core.proxies import ProxyAddress, ProxyProtocol
from proxyfleet.pool.parsers.address import make_address, protocol_named
from proxyfleet.pool.parsers.plugin import ParserPlugin
from proxyfleet.pool.parsers.records import Field, Record, addresses_of, field_named
from proxyfleet.pool.parsers.text import iter_data_lines

DELIMITERS = ",;\t|"

Header = Sequence[Field | None]


def delimiter_of(line: str) -> str | None:
    """The candidate delimiter the line uses most, or None."""
    best = max(DELIMITERS, key=line.count)
    return best if best in line else None


def cells_of(line: str, delimiter: str) -> list[str]:
    # One reader per line: a stray quote must not swallow the lines after it.
    try:
        row = next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return []
    return [cell.strip() for cell in row]


def header_of(line: str, delimiter: str) -> Header | None:
    """The meaning of each column, when the line is a header naming an address column."""
    header = [field_named(cell) for cell in cells_of(line, delimiter)]
    return header if Field.HOST in header or Field.LINE in header else None


def _record(header: Header, cells: Sequence[str]) -> Record:
    record: dict[Field, object] = {}
    for field, cell in zip(header, cells, strict=False):
        if field is not None and cell:
            record.setdefault(field, cell)
    return record


def _protocol_column(rest: Sequence[str], default: ProxyProtocol) -> tuple[ProxyProtocol, int]:
    """The protocol of a headerless row's tail and how many cells it took.

    Odd tails (protocol / protocol, user, pass) start with a protocol; even ones only when
    the cell names one. An unknown name in a headerless row is likely another column
    (a country, an anonymity level), so it falls back to the default.
    """
    if not rest or (len(rest) % 2 == 0 and protocol_named(rest[0]) is None):
        return default, 0
    return protocol_named(rest[0]) or default, 1


def positional_address(cells: Sequence[str], default: ProxyProtocol) -> ProxyAddress | None:
    """A headerless row: ip, port[, protocol][, user, pass]."""
    if len(cells) < 2:
        return None
    protocol, taken = _protocol_column(cells[2:], default)
    credentials = cells[2 + taken:]
    if len(credentials) < 2:
        return make_address(cells[0], cells[1], protocol)
    return make_address(cells[0], cells[1], protocol, credentials[0] or None, credentials[1])


def _opening(lines: Iterator[str]) -> tuple[str, str] | None:
    """The first line and its delimiter, taken from `lines`; None when there is no table."""
    first = next(lines, None)
    delimiter = None if first is None else delimiter_of(first)
    return None if first is None or delimiter is None else (first, delimiter)


class CsvParser(ParserPlugin):
    name = "csv"
    specificity = 20

    def supports(self, content: str, content_type: str | None) -> bool:
        # Decided by the first line alone: a header naming an address column, or a
        # headerless row that reads as ip and port. The content type is rarely text/csv.
        opening = _opening(iter_data_lines(content))
        if opening is None:
            return False
        first, delimiter = opening
        if header_of(first, delimiter) is not None:
            return True
        return positional_address(cells_of(first, delimiter), ProxyProtocol.HTTP) is not None

    def parse(self, content: str, default_protocol: ProxyProtocol) -> Iterator[ProxyAddress]:
        lines = iter_data_lines(content)
        opening = _opening(lines)
        if opening is None:
            return
        first, delimiter = opening
        header = header_of(first, delimiter)
        if header is None:
            yield from self._positional(chain([first], lines), delimiter, default_protocol)
        else:
            yield from self._named(header, lines, delimiter, default_protocol)

    def _named(self, header: Header, lines: Iterator[str], delimiter: str,
               default: ProxyProtocol) -> Iterator[ProxyAddress]:
        for line in lines:
            yield from addresses_of(_record(header, cells_of(line, delimiter)), default)

    def _positional(self, lines: Iterator[str], delimiter: str,
                    default: ProxyProtocol) -> Iterator[ProxyAddress]:
        for line in lines:
            address = positional_address(cells_of(line, delimiter), default)
            if address is not None:
                yield address
