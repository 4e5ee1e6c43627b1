"""The migrations build exactly the schema the tables describe, on the backend under test."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from proxyfleet.bootstrap import Container
from proxyfleet.storage import migrate
from proxyfleet.storage.tables import Base


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrated_schema_matches_the_tables(container: Container) -> None:
    engines = container.database.engines
    assert await migrate.current_revision(engines) == migrate.head_revision()
    async with engines.reader.connect() as conn:
        assert await conn.run_sync(_diff) == []
