"""hardening

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 08:30:00

Leases remember the Idempotency-Key of the acquire that made them (unique per user) and the
balance it left, so a retried acquire is answered as the first was and charged once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('leases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idempotency_key', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('balance_after', sa.BigInteger(), nullable=True))
        batch_op.create_index('uq_leases_idempotency_key', ['user_id', 'idempotency_key'],
                              unique=True, sqlite_where=sa.text('idempotency_key IS NOT NULL'),
                              postgresql_where=sa.text('idempotency_key IS NOT NULL'))


def downgrade() -> None:
    with op.batch_alter_table('leases', schema=None) as batch_op:
        batch_op.drop_index('uq_leases_idempotency_key',
                            sqlite_where=sa.text('idempotency_key IS NOT NULL'),
                            postgresql_where=sa.text('idempotency_key IS NOT NULL'))
        batch_op.drop_column('balance_after')
        batch_op.drop_column('idempotency_key')
