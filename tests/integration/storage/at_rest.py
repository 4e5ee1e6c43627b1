"""What the database holds at rest, read raw: every value of every table, and the SQLite
files (database, journal, write-ahead log) as bytes."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url

from proxyfleet.bootstrap import Container
from proxyfleet.storage.tables import Base


async def every_value(container: Container) -> list[str]:
    values: list[str] = []
    async with container.database.engines.reader.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in await conn.execute(select(table)):
                values.extend(str(v) for v in row)
    return values


def sqlite_files(container: Container) -> list[Path]:
    """The SQLite files of the container's database; none on PostgreSQL."""
    url = make_url(container.settings.effective_database_url)
    if url.get_backend_name() != "sqlite":
        return []
    assert url.database is not None
    return list(Path(url.database).parent.glob(Path(url.database).name + "*"))
