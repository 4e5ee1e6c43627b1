"""notify: the event outbox, notifiers, their deliveries, pool watches, source pauses

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 08:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import proxyfleet.storage.types

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = proxyfleet.storage.types.UTCDateTime


def upgrade() -> None:
    op.create_table('events',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('occurred_at', UTC(timezone=True), nullable=False),
    sa.Column('fanned_out_at', UTC(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_unfanned', ['occurred_at'], unique=False,
                              sqlite_where=sa.text('fanned_out_at IS NULL'),
                              postgresql_where=sa.text('fanned_out_at IS NULL'))

    op.create_table('notifiers',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('plugin', sa.String(length=64), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('secrets', sa.String(length=4000), nullable=True),
    sa.Column('subscribes_to', sa.JSON(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTC(timezone=True), nullable=False),
    sa.Column('healthy', sa.Boolean(), nullable=False),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=1000), nullable=True),
    sa.Column('last_attempt_at', UTC(timezone=True), nullable=True),
    sa.Column('last_success_at', UTC(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifiers'))
    )

    op.create_table('event_deliveries',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('notifier_id', sa.Uuid(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', UTC(timezone=True), nullable=False),
    sa.Column('claim_token', sa.Uuid(), nullable=True),
    sa.Column('claimed_until', UTC(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=1000), nullable=True),
    sa.Column('delivered_at', UTC(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'],
                            name=op.f('fk_event_deliveries_event_id_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['notifier_id'], ['notifiers.id'],
                            name=op.f('fk_event_deliveries_notifier_id_notifiers'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_deliveries')),
    sa.UniqueConstraint('event_id', 'notifier_id', name='uq_event_deliveries_pair')
    )
    with op.batch_alter_table('event_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_event_deliveries_due', ['state', 'next_attempt_at'],
                              unique=False)
        batch_op.create_index('ix_event_deliveries_notifier', ['notifier_id'], unique=False)

    op.create_table('pool_watches',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('is_low', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Integer(), nullable=False),
    sa.Column('changed_at', UTC(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_pool_watches'))
    )

    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paused_at', UTC(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.drop_column('paused_at')
    op.drop_table('pool_watches')
    with op.batch_alter_table('event_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_event_deliveries_notifier')
        batch_op.drop_index('ix_event_deliveries_due')
    op.drop_table('event_deliveries')
    op.drop_table('notifiers')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_unfanned')
    op.drop_table('events')
