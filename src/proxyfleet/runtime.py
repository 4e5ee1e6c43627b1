"""`tune_collector`: how a proxyfleet process sets up Python's cyclic garbage collector.

A busy proxyfleet process allocates container objects (tuples, futures, coroutines, small
records) by the hundred per check or request, and nearly all of them die by reference
counting within milliseconds. With the interpreter's defaults a collection of the youngest
generation runs every 700 allocations, so it keeps meeting the live objects of the hundreds
of checks in flight, walks them, and promotes them to older generations that are walked again
later; at a few thousand checks a second that costs about 4 % of the checker's instructions
(`bench.check_cycle`). A youngest generation of `YOUNG` objects is collected so rarely that
almost everything it would have walked has died first: the same garbage is found for a few
megabytes more at the peak. What the process loaded before it starts serving (modules,
settings, the container) is frozen out of the collector's sight, so the old generation's
rare full collections do not walk it over and over.

Standard library only; the `proxyfleet` command calls it in every process it runs.
"""

from __future__ import annotations

import gc

YOUNG = 20_000  # the interpreter's default is 700
OLDER = 10  # collections of a generation before the next one is collected (the default)


def tune_collector() -> None:
    """Freeze what is loaded so far and collect the youngest generation every `YOUNG`
    allocations. Idempotent: a second call freezes what came since."""
    gc.collect()  # what is garbage already is not to be frozen
    gc.freeze()
    gc.set_threshold(YOUNG, OLDER, OLDER)
