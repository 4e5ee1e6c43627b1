"""The one shape of a claim of due work: `UPDATE … WHERE id IN (<the ids due>)`."""

from __future__ import annotations

import typing

from sqlalchemy import Select, select


def claimable(due: Select[typing.Any], postgresql: bool) -> typing.Any:
    """The ids `due` selects (one column, with its LIMIT), for `IN (…)` in a claiming
    update. On PostgreSQL they are locked with SKIP LOCKED, so concurrent claimers pass each
    other by, and taken in a MATERIALIZED CTE: inside `IN (…)` the planner may run a
    `LIMIT … FOR UPDATE SKIP LOCKED` subquery again for each row of a nested loop (on
    statistics older than a burst), each run skipping the rows the statement has just
    claimed, so one claim would take far more than its limit. A materialized CTE runs once."""
    if not postgresql:
        return due.scalar_subquery()
    locked = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
    return select(*locked.c)
