import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxyfleet.api.pagination import CursorCodec, created_position
from proxyfleet.core.errors import InvalidInput
from proxyfleet.storage.sealing import SecretBox

CURSORS = CursorCodec(SecretBox(b"one secret"))
OTHER = CursorCodec(SecretBox(b"another secret"))

positions = st.lists(st.one_of(st.integers(), st.text(), st.floats(allow_nan=False), st.none()))


def _unsigned(position: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


@given(positions)
def test_cursor_round_trips(position: list[object]) -> None:
    assert CURSORS.decode(CURSORS.encode(position)) == position


@given(st.text())
def test_any_garbage_cursor_is_invalid_input(garbage: str) -> None:
    with pytest.raises(InvalidInput):
        CURSORS.decode(garbage)


@given(positions, st.integers(min_value=0, max_value=200), st.characters())
def test_a_changed_cursor_is_refused(position: list[object], at: int, char: str) -> None:
    cursor = CURSORS.encode(position)
    index = at % len(cursor)
    changed = cursor[:index] + char + cursor[index + 1:]
    if changed != cursor:
        with pytest.raises(InvalidInput):
            CURSORS.decode(changed)


@pytest.mark.parametrize("char", ["\ud800", "é", "\x00"])
def test_a_cursor_with_a_character_it_is_never_written_with_is_refused(char: str) -> None:
    cursor = CURSORS.encode(["score", "desc", 0.5, "x", 3])
    for changed in (char + cursor, cursor[:3] + char + cursor[4:], cursor + char):
        with pytest.raises(InvalidInput):
            CURSORS.decode(changed)


def test_a_cursor_written_under_another_key_is_refused() -> None:
    with pytest.raises(InvalidInput):
        CURSORS.decode(OTHER.encode(["score", "desc", 0.5, "x", 3]))


@pytest.mark.parametrize("position", [["score", "desc", 0.5, "x", 10**40], {"a": 1}, True])
def test_an_unsigned_cursor_is_refused_whatever_it_holds(position: object) -> None:
    with pytest.raises(InvalidInput):
        CURSORS.decode(_unsigned(position))
    with pytest.raises(InvalidInput):
        CURSORS.decode(_unsigned(position) + ".")


@pytest.mark.parametrize("position", [
    ["2025-01-01T00:00:00", "8d3e4f0a-7f44-4a8e-9d5b-1c2d3e4f5a6b"],  # no zone
    ["2025-01-01T00:00:00+00:00", "not-a-uuid"],
    [1, "8d3e4f0a-7f44-4a8e-9d5b-1c2d3e4f5a6b"],
    ["2025-01-01T00:00:00+00:00"],
])
def test_a_creation_position_of_the_wrong_shape_is_refused(position: list[object]) -> None:
    with pytest.raises(InvalidInput):
        created_position(CURSORS, CURSORS.encode(position))
