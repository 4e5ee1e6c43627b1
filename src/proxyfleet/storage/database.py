"""Engines for one database URL: a reader and a writer, set up per backend.

SQLite: WAL mode, a busy timeout, readers that cannot write (`query_only`: every write goes
through the writer's one connection), and writes that start with BEGIN IMMEDIATE so two writers
queue instead of deadlocking on a lock upgrade. PostgreSQL: asyncpg, READ COMMITTED, with
races settled by conditional single-statement updates and constraints.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import sqlite3
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite
import aiosqlite.core
from sqlalchemy import event, exc, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 30_000


@dataclass(frozen=True, slots=True)
class PoolSize:
    """PostgreSQL connections per process: at most `most` at once, of which `kept` stay
    open when idle; connections past `kept` are closed as soon as they are given back
    while `kept` others wait in the pool (SQLAlchemy's overflow)."""

    most: int = 20
    kept: int = 5

    def __post_init__(self) -> None:
        if not 1 <= self.kept <= self.most:
            raise ValueError("need 1 <= kept <= most connections")
# A pooled PostgreSQL connection idle this long is pinged before it is handed out again.
IDLE_BEFORE_PING_SECONDS = 5.0


class Backend(enum.StrEnum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


def backend_of(url: str | URL) -> Backend:
    name = make_url(url).get_backend_name()
    try:
        return Backend(name)
    except ValueError:
        raise ValueError(f"unsupported database: {name} (use sqlite or postgresql)") from None


def normalise_url(url: str) -> URL:
    """Accept plain `sqlite:///` and `postgresql://` URLs and pick the async drivers."""
    parsed = make_url(url)
    driver = {Backend.SQLITE: "sqlite+aiosqlite", Backend.POSTGRESQL: "postgresql+asyncpg"}
    return parsed.set(drivername=driver[backend_of(parsed)])


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # aiosqlite must not emit its own BEGIN: the "begin" listener decides how a transaction
    # starts (deferred for readers, IMMEDIATE for writers).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # 64 MiB page cache per connection: random UUID keys touch index pages all over.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


def _sqlite_reader_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # A write through a reader would take SQLite's one write lock outside the writer's
    # queue (and with a deferred BEGIN, which can deadlock on the upgrade): refuse it.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


class _LockReleasingConnection(aiosqlite.Connection):
    """aiosqlite's connection, closed so that it lets go of SQLite's write lock at once.

    SQLAlchemy closes a connection whose task was cancelled mid-transaction (a periodic
    flush stopped at shutdown, a request whose client went away) instead of giving it back to
    the pool. sqlite3's close() of a connection with a statement not yet finalized (the
    cancelled cursor's, alive until the garbage collector frees it) leaves a "zombie" that
    keeps its transaction, and so the write lock, until then: every write after it, the
    writer's next connection's included, waited out the busy timeout and failed with
    "database is locked". Rolling back first ends the transaction whatever is left open.

    And aiosqlite (0.22) answers a second stop, or a close after a stop, with a future its
    worker, gone after the first, never resolves: a shutdown awaiting it hung for ever. Here
    only the first stop is sent, and a later stop or close waits on it.
    Built on aiosqlite's internals (`_tx`, `_running`, `_connection`, its stop sentinel):
    constraints.txt pins the version it was written against."""

    _stopping: asyncio.Future[Any] | None = None

    def stop(self) -> asyncio.Future[Any] | None:
        """Roll back, close and let the worker end, after what is queued already; once: a
        later call answers the first call's future."""
        if not self._running:
            return self._stopping
        self._running = False

        def end_and_stop() -> object:
            if self._connection is not None:
                connection, self._connection = self._connection, None
                # The worker ends only on the sentinel: nothing may keep it from it.
                with contextlib.suppress(sqlite3.Error):
                    try:
                        connection.rollback()
                    finally:
                        connection.close()
            return aiosqlite.core._STOP_RUNNING_SENTINEL

        try:
            self._stopping = asyncio.get_running_loop().create_future()
        except RuntimeError:  # from __del__, the loop gone: nobody waits
            self._stopping = None
        self._tx.put_nowait((self._stopping, end_and_stop))
        return self._stopping

    async def close(self) -> None:
        """The stop, waited for (shielded: a closer cancelled leaves the stop to finish for
        any other closer)."""
        future = self.stop()
        if future is not None:
            await asyncio.shield(future)


def lock_releasing_connection(database: str, *, iter_chunk_size: int = 64,
                               **kwargs: Any) -> aiosqlite.Connection:
    connection = _LockReleasingConnection(partial(sqlite3.connect, database, **kwargs),
                                          iter_chunk_size)
    # As SQLAlchemy sets it for its own aiosqlite connections: a process may exit with one
    # left open (its file is consistent whatever happens: SQLite's journal sees to that).
    connection._thread.daemon = True
    return connection


def _use_lock_releasing_connections(_dialect: Any, _record: Any, _args: Any,
                                    params: dict[str, Any]) -> None:
    params["async_creator_fn"] = lock_releasing_connection


def _sqlite_engine(url: URL, *, immediate: bool) -> AsyncEngine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url,
        # One writer connection: SQLite runs one write at a time anyway, and queueing in the
        # pool is fairer and cheaper than spinning on the busy handler.
        pool_size=1 if immediate else 8,
        max_overflow=0 if immediate else 8,
        pool_timeout=60,
    )
    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"
    event.listen(engine.sync_engine, "do_connect", _use_lock_releasing_connections)
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    if not immediate:
        event.listen(engine.sync_engine, "connect", _sqlite_reader_pragmas)
    event.listen(engine.sync_engine, "begin", lambda conn: conn.exec_driver_sql(begin))
    return engine


def _postgres_engine(url: URL, idle_before_ping: float, size: PoolSize) -> AsyncEngine:
    # `kept` connections stay open between bursts; a burst may open up to `most`, and the
    # extra ones close when given back to a full pool, so an idle process holds `kept`.
    # Past `most`, requests wait for a connection.
    engine = create_async_engine(url, pool_size=size.kept, max_overflow=size.most - size.kept,
                                 pool_timeout=60)
    _ping_when_idle(engine, idle_before_ping)
    return engine


def _ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Ping a connection before reuse only when it sat in the pool `idle_seconds` or more,
    long enough for a database restart or an idle timeout to have dropped it.

    SQLAlchemy's `pool_pre_ping` pings on every checkout, and on asyncpg a ping is three round
    trips (BEGIN, `;`, ROLLBACK): under load, where connections come back within
    milliseconds, that was a third of all round trips. A failed ping invalidates the whole
    pool, as `pool_pre_ping` does, and the checkout retries on a fresh connection."""
    dialect = engine.sync_engine.dialect

    def checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)
        # Whatever the driver raises, the connection is not usable: replace it.
        except Exception as error:
            raise exc.InvalidatePoolError(str(error)) from error

    event.listen(engine.sync_engine, "checkin", checked_in)
    event.listen(engine.sync_engine, "checkout", checked_out)


@dataclass(frozen=True)
class Engines:
    """The reader and writer for one database (the same engine on PostgreSQL)."""

    backend: Backend
    reader: AsyncEngine
    writer: AsyncEngine

    @classmethod
    def create(cls, url: str, *, idle_before_ping: float = IDLE_BEFORE_PING_SECONDS,
               pool: PoolSize | None = None) -> Engines:
        parsed = normalise_url(url)
        backend = backend_of(parsed)
        if backend is Backend.SQLITE:
            return cls(backend, _sqlite_engine(parsed, immediate=False),
                       _sqlite_engine(parsed, immediate=True))
        engine = _postgres_engine(parsed, idle_before_ping, pool or PoolSize())
        return cls(backend, engine, engine)

    def sessions(self, *, write: bool, autocommit: bool = False) -> async_sessionmaker[Any]:
        """Sessions on the reader or the writer; `autocommit` (PostgreSQL only: SQLite's
        writer must BEGIN IMMEDIATE) makes every statement its own transaction."""
        engine = self.writer if write else self.reader
        if autocommit and self.backend is Backend.POSTGRESQL:
            # Shares the engine's pool; asyncpg switches isolation without a round trip.
            engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        return async_sessionmaker(engine, expire_on_commit=False)

    async def ping(self) -> None:
        async with self.reader.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.reader.dispose()
        if self.writer is not self.reader:
            await self.writer.dispose()


def is_database_failure(error: BaseException) -> bool:
    """Whether an exception means the database failed us (unreachable, dropped connection,
    broken schema, pool exhausted): surfaces answer it with their "unavailable" status,
    never a 500. Drivers raise their own types; SQLAlchemy wraps most of them in DBAPIError."""
    return isinstance(error, exc.DBAPIError | exc.TimeoutError | OSError | TimeoutError) \
        or type(error).__module__.startswith("asyncpg")
