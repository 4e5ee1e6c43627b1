"""fresh

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 08:30:00

A source URL is unique: the same list added twice is a 409, settled by the database.
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ux_sources_url", "sources", ["url"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_sources_url", table_name="sources")
