"""What a source parser is (`SourceParser`) and the base class that registers parsers.

A parser turns the text of a fetched list into proxies, lazily. Built-in parsers subclass
`ParserPlugin`, which records each concrete subclass as it is defined; outside packages may do
the same or just satisfy `SourceParser` and expose it through the `proxyfleet.parsers` entry
point group. Imports only `core`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Protocol, runtime_checkable

from proxyfleet.core.proxies import ProxyAddress, ProxyProtocol


@runtime_checkable
class SourceParser(Protocol):
    """Turns list text into proxies.

    A parser may also carry `specificity: int`: during detection, parsers are asked in
    decreasing specificity (json 30, csv 20, plaintext 10; 0 when absent).
    """

    name: str

    def supports(self, content: str, content_type: str | None) -> bool:
        """Whether this content looks like this parser's format."""
        ...

    def parse(self, content: str, default_protocol: ProxyProtocol) -> Iterator[ProxyAddress]:
        """The proxies in `content`, as they are found; junk is skipped, never raised."""
        ...


class ParserPlugin:
    """Base of self-registering parsers: a subclass that sets `name` is registered."""

    name: str
    specificity: int = 0

    _catalogue: ClassVar[dict[str, type[ParserPlugin]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Only classes that name themselves are parsers; the rest are shared bases.
        if "name" in cls.__dict__:
            ParserPlugin._catalogue[cls.name] = cls

    @classmethod
    def registered(cls) -> list[type[ParserPlugin]]:
        return list(ParserPlugin._catalogue.values())

    def supports(self, content: str, content_type: str | None) -> bool:
        raise NotImplementedError

    def parse(self, content: str, default_protocol: ProxyProtocol) -> Iterator[ProxyAddress]:
        raise NotImplementedError
