"""`statements_run`: the SQL statements an engine runs in a block, as the driver gets them,
with the isolation level each ran at (for tests that count round trips, or that check a
statement ran outside a transaction block)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


class Ran(NamedTuple):
    statement: str
    isolation: str | None  # the execution option, "AUTOCOMMIT" for no transaction block

    @property
    def verb(self) -> str:
        """The statement's first word, upper-cased: SELECT, UPDATE, WITH, …"""
        return self.statement.split(None, 1)[0].upper()


@contextmanager
def statements_run(engine: AsyncEngine, keep: Callable[[str], bool] = lambda _: True,
                   ) -> Iterator[list[Ran]]:
    """Each statement `engine` runs in the block that `keep` accepts, as it runs: the list
    grows during the block."""
    seen: list[Ran] = []

    def record(_conn: Any, _cursor: Any, statement: str, _params: Any, context: Any,
               _many: bool) -> None:
        if keep(statement):
            seen.append(Ran(statement, context.execution_options.get("isolation_level")))

    sync_engine = engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)
