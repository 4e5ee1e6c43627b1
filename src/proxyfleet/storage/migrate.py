"""Apply Alembic migrations on a live async engine, from inside a running event loop."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from proxyfleet.storage.database import Backend, Engines
from proxyfleet.storage.sealing import SecretBox

MIGRATIONS = Path(__file__).with_name("migrations")
# Any constant works; it only has to be the same in every proxyfleet process.
_PG_MIGRATION_LOCK = 0x70726F78


def _config(connection: Connection | None = None, box: SecretBox | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    # Migrations that seal secrets stored in plain text before take the box from here.
    config.attributes["box"] = box
    return config


def _upgrade(connection: Connection, box: SecretBox | None) -> None:
    if connection.dialect.name == Backend.POSTGRESQL:
        # Two processes starting at once must not both run the same migration.
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
    command.upgrade(_config(connection, box), "head")


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(engines: Engines, box: SecretBox | None = None) -> None:
    """Migrate to the head; `box` seals secrets found in plain text (a database with such
    rows cannot be migrated without it)."""
    async with engines.writer.begin() as conn:
        await conn.run_sync(_upgrade, box)


async def current_revision(engines: Engines) -> str | None:
    async with engines.reader.connect() as conn:
        return await conn.run_sync(_current)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()
