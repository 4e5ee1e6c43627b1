"""SQLite's two engines: the reader can only read (a write through it would take SQLite's
one write lock outside the writer's queue), the writer's transactions take that lock first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import exc, text

from proxyfleet.storage.database import Engines


@pytest.fixture
async def engines(tmp_path: Path) -> AsyncIterator[Engines]:
    created = Engines.create(f"sqlite:///{tmp_path / 'engines.db'}")
    async with created.writer.begin() as conn:
        await conn.execute(text("CREATE TABLE t (x INTEGER)"))
    try:
        yield created
    finally:
        await created.dispose()


async def test_the_reader_refuses_to_write_and_the_writer_writes(engines: Engines) -> None:
    with pytest.raises(exc.OperationalError, match="readonly"):
        async with engines.reader.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (1)"))
    async with engines.writer.begin() as conn:
        await conn.execute(text("INSERT INTO t VALUES (2)"))
    async with engines.reader.connect() as conn:
        assert (await conn.execute(text("SELECT x FROM t"))).scalars().all() == [2]
