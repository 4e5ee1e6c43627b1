"""The parser registry: parsers by name, format detection, and discovery of outside parsers.

Built-in parsers register themselves (`ParserPlugin`); outside packages add theirs through the
`proxyfleet.parsers` entry point group, naming a parser class or instance. A broken outside
parser is logged and skipped. The registry is built by the composition root, never at import.
Imports `core`, this package and structlog.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata
from typing import TypedDict

import structlog

from proxyfleet.core.errors import InvalidInput
from proxyfleet.pool.parsers.plugin import ParserPlugin, SourceParser

ENTRY_POINT_GROUP = "proxyfleet.parsers"

log = structlog.get_logger(__name__)


class UnknownParser(InvalidInput):
    code = "UNKNOWN_PARSER"


class PluginDescription(TypedDict):
    name: str
    type: str


def specificity_of(parser: SourceParser) -> int:
    value = getattr(parser, "specificity", 0)
    return value if isinstance(value, int) else 0


def _as_parser(loaded: object) -> SourceParser | None:
    """An entry point's object as a parser: a parser class is instantiated."""
    candidate = loaded() if isinstance(loaded, type) else loaded
    if isinstance(candidate, SourceParser) and isinstance(candidate.name, str) and candidate.name:
        return candidate
    return None


class ParserRegistry:
    def __init__(self, parsers: Iterable[SourceParser] = ()) -> None:
        self._parsers: dict[str, SourceParser] = {}
        for parser in parsers:
            self.add(parser)

    @classmethod
    def self_registered(cls) -> ParserRegistry:
        """The parsers that registered themselves by subclassing `ParserPlugin`."""
        return cls(plugin() for plugin in ParserPlugin.registered())

    @classmethod
    def load(cls, entry_points: Iterable[metadata.EntryPoint] | None = None) -> ParserRegistry:
        """Self-registered parsers plus those the installed packages declare."""
        registry = cls.self_registered()
        if entry_points is None:
            entry_points = metadata.entry_points(group=ENTRY_POINT_GROUP)
        registry.discover(entry_points)
        return registry

    def add(self, parser: SourceParser) -> None:
        if parser.name in self._parsers:
            raise ValueError(f"a parser named {parser.name!r} is already registered")
        self._parsers[parser.name] = parser

    def discover(self, entry_points: Iterable[metadata.EntryPoint]) -> None:
        for entry_point in entry_points:
            self._add_discovered(entry_point)

    def _add_discovered(self, entry_point: metadata.EntryPoint) -> None:
        # Anything can go wrong in someone else's package; it must not stop the service.
        try:
            parser = _as_parser(entry_point.load())
        except Exception as error:
            log.warning("parser_plugin_broken", entry_point=entry_point.value, error=repr(error))
            return
        if parser is None:
            log.warning("parser_plugin_invalid", entry_point=entry_point.value)
        elif type(self._parsers.get(parser.name)) is type(parser):
            return  # a self-registered class also declared as an entry point
        elif parser.name in self._parsers:
            log.warning("parser_plugin_duplicate", entry_point=entry_point.value,
                        parser=parser.name)
        else:
            self._parsers[parser.name] = parser

    def get(self, name: str) -> SourceParser:
        try:
            return self._parsers[name]
        except KeyError:
            raise UnknownParser(f"No parser named {name!r}.",
                                {"parser_name": name, "available": self.names()}) from None

    def names(self) -> list[str]:
        return sorted(self._parsers)

    def __contains__(self, name: object) -> bool:
        return name in self._parsers

    def by_specificity(self) -> list[SourceParser]:
        """Parsers in the order detection asks them: most specific first, then by name."""
        return sorted(self._parsers.values(), key=lambda p: (-specificity_of(p), p.name))

    def detect(self, content: str, content_type: str | None) -> SourceParser | None:
        """The most specific parser that supports the content, or None."""
        for parser in self.by_specificity():
            if self._supports(parser, content, content_type):
                return parser
        return None

    def _supports(self, parser: SourceParser, content: str, content_type: str | None) -> bool:
        # An outside parser that raises is treated as not supporting the content.
        try:
            return parser.supports(content, content_type)
        except Exception as error:
            log.warning("parser_supports_failed", parser=parser.name, error=repr(error))
            return False

    def describe(self) -> list[PluginDescription]:
        """What `GET /stats/plugins` lists."""
        return [PluginDescription(name=name, type="SourceParser") for name in self.names()]
