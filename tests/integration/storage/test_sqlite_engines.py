"""SQLite's two engines: the reader can only read (a write through it would take SQLite's
one write lock outside the writer's queue); a writer cancelled mid-transaction lets go of the
lock at once; a connection stopped and then closed does not hang its closer."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import exc, text

from proxyfleet.storage.database import Engines, lock_releasing_connection

# A statement that runs for a while (a count to ten million), long enough to be cancelled in.
_SLOW = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000000) "
         "SELECT i FROM n")


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


async def test_a_write_cancelled_mid_statement_lets_go_of_the_write_lock(
        engines: Engines, tmp_path: Path) -> None:
    """The write is cancelled while a statement runs, with another one not finalized (a
    streamed result): SQLAlchemy closes the connection, and the lock must go with it, not
    when the garbage collector (off here) frees the cursor."""
    started = asyncio.Event()

    async def write() -> None:
        async with engines.writer.connect() as conn, conn.begin():
            await conn.execute(text("INSERT INTO t VALUES (1)"))
            streamed = await conn.stream(text("SELECT x FROM t"))
            await streamed.fetchmany(1)
            started.set()
            await conn.execute(text(f"SELECT count(*) FROM ({_SLOW})"))

    with _collector_off():
        task = asyncio.create_task(write())
        await started.wait()
        await asyncio.sleep(0.1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled()
        _take_the_write_lock(tmp_path / "engines.db", wait_seconds=30)
    async with engines.writer.begin() as conn:
        await conn.execute(text("INSERT INTO t VALUES (2)"))
    async with engines.reader.connect() as conn:
        assert (await conn.execute(text("SELECT x FROM t"))).scalars().all() == [2]


async def test_a_stopped_connection_closes_and_lets_go_of_the_lock(tmp_path: Path) -> None:
    """aiosqlite answered a close after a stop with a future its stopped worker never
    resolves (a shutdown awaiting it hung); and whichever comes first, the connection's
    transaction ends with it."""
    path = tmp_path / "stopped.db"
    connection = await lock_releasing_connection(str(path))
    await connection.execute("BEGIN IMMEDIATE")
    stopping = connection.stop()
    await asyncio.wait_for(connection.close(), 10)
    assert stopping is not None and stopping.done()
    assert connection.stop() is stopping
    with _collector_off():  # the lock must not wait for the collector
        _take_the_write_lock(path, wait_seconds=5)


@contextlib.contextmanager
def _collector_off() -> Iterator[None]:
    """The garbage collector off: what it would free (a cursor, a connection) stays."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _take_the_write_lock(path: Path, wait_seconds: float) -> None:
    """Take SQLite's write lock from another connection and give it back; raises
    `database is locked` when it is still held after `wait_seconds`."""
    probe = sqlite3.connect(path, isolation_level=None, timeout=wait_seconds)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
    finally:
        probe.close()
