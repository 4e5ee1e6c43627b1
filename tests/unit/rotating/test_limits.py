"""The usage tally."""

from __future__ import annotations

import uuid

from proxyfleet.core.gateway import Usage
from proxyfleet.rotating.limits import UsageTally

ALICE, BOB = uuid.uuid4(), uuid.uuid4()


def test_the_tally_drains_and_restores() -> None:
    tally = UsageTally()
    counts = tally.counts(ALICE)
    counts[0] += 2
    counts[2] += 100
    assert tally.pending(ALICE) == Usage(ALICE, 2, 0, 100)
    batch = tally.drain()
    assert batch == [Usage(ALICE, 2, 0, 100)]
    assert tally.pending(ALICE) == Usage(ALICE)
    tally.counts(ALICE)[1] += 5
    tally.restore(batch)
    assert tally.pending(ALICE) == Usage(ALICE, 2, 5, 100)
