"""The streaming JSON walk: entries of a bare or wrapped list, errors where they are met."""

from __future__ import annotations

import json

import pytest

from proxyfleet.pool.parsers.jsonscan import iter_entries


@pytest.mark.parametrize(("document", "expected"), [
    ([1, "a", {"b": [2]}, None], [1, "a", {"b": [2]}, None]),
    ({"data": [1, 2], "proxies": [3]}, [1, 2, 3]),
    ({"meta": {"data": [9]}, "items": [1]}, [1]),
    ({"results": {"list": [1]}}, [1]),
    ({"Proxies": [1]}, [1]),
    ({"data": "x", "list": 5}, []),
    ([], []),
])
def test_entries(document: object, expected: list[object]) -> None:
    assert list(iter_entries(json.dumps(document, indent=2))) == expected


def test_entries_come_before_a_later_error() -> None:
    stream = iter_entries("[1, 2, oops]")
    assert [next(stream), next(stream)] == [1, 2]
    with pytest.raises(ValueError, match="Expecting value"):
        next(stream)


@pytest.mark.parametrize("content", [
    "", "x", "[1 2]", "[1,]", "{1: [2]}", '{"data" [1]}', "[1] [2]", '{"a": 1,}', "[",
])
def test_malformed(content: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        list(iter_entries(content))
