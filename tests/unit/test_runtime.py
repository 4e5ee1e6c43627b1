"""The collector set-up every proxyfleet process runs before it serves."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from proxyfleet.runtime import YOUNG, tune_collector


@pytest.fixture
def collector_restored() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("collector_restored")
def test_what_is_loaded_is_frozen_and_the_youngest_generation_is_collected_rarely() -> None:
    gc.unfreeze()
    tune_collector()
    assert gc.get_freeze_count() > 1000  # the modules loaded so far, at least
    assert gc.get_threshold()[0] == YOUNG > 700


@pytest.mark.usefixtures("collector_restored")
def test_cyclic_garbage_made_afterwards_is_still_collected_on_its_own() -> None:
    tune_collector()

    class Node:
        pass

    made = 3 * YOUNG
    for _ in range(made):  # each node is a cycle: only the collector can free it
        node = Node()
        node.itself = node  # type: ignore[attr-defined]
    left = sum(1 for found in gc.get_objects() if type(found) is Node)
    assert left < made / 2  # young collections ran by themselves and freed most of them
