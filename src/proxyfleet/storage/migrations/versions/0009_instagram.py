"""instagram

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 08:30:00

Seed 003: Instagram accounts (quota state) and their actions (the rolling windows).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import proxyfleet.storage.types

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = proxyfleet.storage.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('instagram_accounts',
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('follow_limit', sa.Integer(), nullable=True),
    sa.Column('like_limit', sa.Integer(), nullable=True),
    sa.Column('comment_limit', sa.Integer(), nullable=True),
    sa.Column('follow_blocked_until', UTC, nullable=True),
    sa.Column('like_blocked_until', UTC, nullable=True),
    sa.Column('comment_blocked_until', UTC, nullable=True),
    sa.Column('writes_blocked_until', UTC, nullable=True),
    sa.Column('next_action_at', UTC, nullable=True),
    sa.Column('created_at', UTC, nullable=False),
    sa.PrimaryKeyConstraint('username', name=op.f('pk_instagram_accounts'))
    )
    op.create_table('instagram_actions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('target', sa.String(length=255), nullable=False),
    sa.Column('dedupe', sa.String(length=255), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('refusal', sa.String(length=32), nullable=True),
    sa.Column('proxy_id', sa.Uuid(), nullable=True),
    sa.Column('at', UTC, nullable=False),
    sa.ForeignKeyConstraint(['username'], ['instagram_accounts.username'], name=op.f('fk_instagram_actions_username_instagram_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_instagram_actions'))
    )
    with op.batch_alter_table('instagram_actions', schema=None) as batch_op:
        batch_op.create_index('ix_instagram_actions_window', ['username', 'action', 'at'], unique=False)
        batch_op.create_index('uq_instagram_actions_dedupe', ['username', 'action', 'dedupe'], unique=True)
        batch_op.create_index('ix_instagram_actions_proxy_at', ['proxy_id', 'at'], unique=False)


def downgrade() -> None:
    op.drop_table('instagram_actions')
    op.drop_table('instagram_accounts')
