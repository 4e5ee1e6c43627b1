"""Integer ids that are never handed out twice, even after the row holding one is deleted
(a `max() + 1` would give a deleted proxy's id to the next one). Never commits."""

from __future__ import annotations

import typing

from sqlalchemy import Table, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from proxyfleet.storage.tables import IdSequenceRow

SEQUENCES = typing.cast(Table, IdSequenceRow.__table__)
PROXY_NUMBERS = "proxy_number"

_BUMP = (update(SEQUENCES).where(SEQUENCES.c.name == bindparam("sequence"))
         .values(value=SEQUENCES.c.value + 1).returning(SEQUENCES.c.value))


async def next_number(session: AsyncSession, sequence: str = PROXY_NUMBERS) -> int:
    """The next id of `sequence` (1 for the first), taken in the caller's transaction."""
    dialect = session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(SEQUENCES)
    await session.execute(insert.values(name=sequence, value=0).on_conflict_do_nothing())
    value = await session.scalar(_BUMP, {"sequence": sequence})
    return int(typing.cast(int, value))
