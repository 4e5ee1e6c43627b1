import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxyfleet.api.pagination import decode_cursor, encode_cursor
from proxyfleet.core.errors import InvalidInput

positions = st.lists(st.one_of(st.integers(), st.text(), st.floats(allow_nan=False), st.none()))


@given(positions)
def test_cursor_round_trips(position: list[object]) -> None:
    assert decode_cursor(encode_cursor(position)) == position


@given(st.text())
def test_any_garbage_cursor_is_invalid_input_or_a_list(garbage: str) -> None:
    with contextlib.suppress(InvalidInput):
        assert isinstance(decode_cursor(garbage), list)


@pytest.mark.parametrize("cursor", ["eyJhIjoxfQ", "bm90IGpzb24", "%%%"])
def test_cursor_that_is_not_a_json_list_is_rejected(cursor: str) -> None:
    with pytest.raises(InvalidInput):
        decode_cursor(cursor)
