"""gateway: per-user usage of the rotating gateway, and its bans (a proxy kept away from a
target domain for a while after a ban rule matched).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 08:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import proxyfleet.storage.types

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('gateway_usage',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('requests', sa.BigInteger(), nullable=False),
    sa.Column('bytes_up', sa.BigInteger(), nullable=False),
    sa.Column('bytes_down', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', proxyfleet.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_gateway_usage_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_gateway_usage'))
    )
    op.create_table('gateway_bans',
    sa.Column('proxy_id', sa.Uuid(), nullable=False),
    sa.Column('domain', sa.String(length=255), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('banned_at', proxyfleet.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('banned_until', proxyfleet.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['proxy_id'], ['proxies.id'], name=op.f('fk_gateway_bans_proxy_id_proxies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('proxy_id', 'domain', name=op.f('pk_gateway_bans'))
    )
    with op.batch_alter_table('gateway_bans', schema=None) as batch_op:
        batch_op.create_index('ix_gateway_bans_banned_until', ['banned_until'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('gateway_bans', schema=None) as batch_op:
        batch_op.drop_index('ix_gateway_bans_banned_until')
    op.drop_table('gateway_bans')
    op.drop_table('gateway_usage')
