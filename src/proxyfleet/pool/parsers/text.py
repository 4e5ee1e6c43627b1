"""Streaming over list text: its lines, one at a time, without splitting the whole content.

Imports only `address` (for what counts as a comment) and the standard library.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from proxyfleet.pool.parsers.address import COMMENT_PREFIXES

# Any of \n, \r\n or a lone \r ends a line; lists come from every kind of editor.
_LINE = re.compile(r"[^\r\n]+")


def iter_lines(content: str) -> Iterator[str]:
    """The non-empty lines of `content`, lazily: a 200,000-line list is never copied whole."""
    for match in _LINE.finditer(content):
        yield match.group()


def iter_data_lines(content: str) -> Iterator[str]:
    """The lines that are neither blank nor comments."""
    for line in iter_lines(content):
        stripped = line.strip()
        if stripped and not stripped.startswith(COMMENT_PREFIXES):
            yield line
