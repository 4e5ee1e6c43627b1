"""Shared pieces of the benchmarks: a fresh database per run, percentiles, a table printer."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from proxyfleet.storage.database import normalise_url

PG_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(statement))
    await engine.dispose()


@asynccontextmanager
async def fresh_database(backend: str) -> AsyncIterator[str]:
    """A database URL that exists only for this run."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'bench.db'}"
        return
    name = f"proxyfleet_bench_{uuid.uuid4().hex[:8]}"
    await _admin(PG_SERVER, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)
    finally:
        await asyncio.sleep(0.1)
        await _admin(PG_SERVER, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def percentile(samples: list[float], pct: float) -> float:
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[int(pct) - 1]


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
