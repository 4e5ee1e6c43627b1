"""fresh

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 08:30:00

Reserved for the fresh work; it changes nothing until that work fills it in, so the
migration chain stays linear whichever branch lands first.
"""

from collections.abc import Sequence

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
