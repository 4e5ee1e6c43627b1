"""manager: seed 000's integer ids, private/disabled proxies and real-traffic counters on the
one inventory; the one table of account sessions; the rotation settings row.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 08:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import proxyfleet.storage.types

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('proxies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('number', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('shared', sa.Boolean(), server_default=sa.text('true'), nullable=False))
        batch_op.add_column(sa.Column('is_active', sa.Boolean(), server_default=sa.text('true'), nullable=False))
        batch_op.add_column(sa.Column('total_requests', sa.BigInteger(), server_default=sa.text('0'), nullable=False))
        batch_op.add_column(sa.Column('failed_requests', sa.BigInteger(), server_default=sa.text('0'), nullable=False))
        batch_op.add_column(sa.Column('requests_this_hour', sa.Integer(), server_default=sa.text('0'), nullable=False))
        batch_op.add_column(sa.Column('requests_hour', sa.Integer(), server_default=sa.text('0'), nullable=False))
        batch_op.add_column(sa.Column('error_count', sa.Integer(), server_default=sa.text('0'), nullable=False))
        batch_op.add_column(sa.Column('cooling_until', proxyfleet.storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('hourly_budget', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('updated_at', proxyfleet.storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('uq_proxies_number', ['number'], unique=True)

    op.create_table('account_sessions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('proxy_id', sa.Uuid(), nullable=False),
    sa.Column('session', sa.Text(), nullable=False),
    sa.Column('session_digest', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('owner_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', proxyfleet.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', proxyfleet.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_account_sessions_owner_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['proxy_id'], ['proxies.id'], name=op.f('fk_account_sessions_proxy_id_proxies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_sessions'))
    )
    with op.batch_alter_table('account_sessions', schema=None) as batch_op:
        batch_op.create_index('uq_account_sessions_digest', ['session_digest'], unique=True)
        batch_op.create_index('ix_account_sessions_proxy_id', ['proxy_id'], unique=False)
        batch_op.create_index('ix_account_sessions_owner_id', ['owner_id'], unique=False)

    op.create_table('rotation_settings',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('health_window', sa.Integer(), nullable=False),
    sa.Column('hourly_budget', sa.Integer(), nullable=True),
    sa.Column('error_threshold', sa.Integer(), nullable=False),
    sa.Column('cooloff_seconds', sa.Float(), nullable=False),
    sa.Column('strategy', sa.String(length=16), nullable=False),
    sa.Column('updated_at', proxyfleet.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rotation_settings'))
    )


def downgrade() -> None:
    op.drop_table('rotation_settings')
    with op.batch_alter_table('account_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_account_sessions_owner_id')
        batch_op.drop_index('ix_account_sessions_proxy_id')
        batch_op.drop_index('uq_account_sessions_digest')
    op.drop_table('account_sessions')
    with op.batch_alter_table('proxies', schema=None) as batch_op:
        batch_op.drop_index('uq_proxies_number')
        for column in ('updated_at', 'hourly_budget', 'cooling_until', 'error_count',
                       'requests_hour', 'requests_this_hour', 'failed_requests',
                       'total_requests', 'is_active', 'shared', 'number'):
            batch_op.drop_column(column)
