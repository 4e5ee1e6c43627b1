"""Source parsers: list text in, proxies out, one at a time.

`address`, `records`, `text` and `jsonscan` are pure (core and stdlib only); `plaintext`,
`json_list` and `csv_table` are the built-in parsers, which register themselves on import;
`registry` holds them and finds outside ones through entry points. Importing this package
imports the built-ins, so any registry built afterwards sees them.
"""

from proxyfleet.pool.parsers import csv_table, json_list, plaintext
from proxyfleet.pool.parsers.plugin import ParserPlugin, SourceParser
from proxyfleet.pool.parsers.registry import (
    ENTRY_POINT_GROUP,
    ParserRegistry,
    PluginDescription,
    UnknownParser,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "ParserPlugin",
    "ParserRegistry",
    "PluginDescription",
    "SourceParser",
    "UnknownParser",
    "csv_table",
    "json_list",
    "plaintext",
]
