"""instagram

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 08:30:00

Seed 003: Instagram's columns on the one session table (username, sealed cookies, user
agent, expiry, state), Instagram accounts (quota state), their actions (the rolling
windows), and the proxies disabled for sessions as suspects.
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
    with op.batch_alter_table('account_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('username', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('cookies', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('user_agent', sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column('expires_at', UTC, nullable=True))
        batch_op.add_column(sa.Column('state', sa.String(length=16), nullable=True))
        batch_op.create_index('uq_account_sessions_username', ['username'], unique=True)
        batch_op.create_index('ix_account_sessions_expires_at', ['expires_at'], unique=False)
    op.create_table('instagram_suspect_proxies',
    sa.Column('proxy_id', sa.Uuid(), nullable=False),
    sa.Column('blocked_accounts', sa.Integer(), nullable=False),
    sa.Column('since', UTC, nullable=False),
    sa.ForeignKeyConstraint(['proxy_id'], ['proxies.id'], name=op.f('fk_instagram_suspect_proxies_proxy_id_proxies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('proxy_id', name=op.f('pk_instagram_suspect_proxies'))
    )
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
    op.drop_table('instagram_suspect_proxies')
    with op.batch_alter_table('account_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_account_sessions_expires_at')
        batch_op.drop_index('uq_account_sessions_username')
        for column in ('state', 'expires_at', 'user_agent', 'cookies', 'username'):
            batch_op.drop_column(column)
    op.drop_table('instagram_actions')
    op.drop_table('instagram_accounts')
