"""shop: the reseller shop's catalogue, orders, refunds and provider schedule (seed 002), and
the Telegram bot's links and keys

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 08:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import proxyfleet.storage.types

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('shop_products',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('provider', sa.String(length=64), nullable=False),
    sa.Column('upstream_product_id', sa.BigInteger(), nullable=False),
    sa.Column('proxy_id', sa.BigInteger(), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('country', sa.String(length=100), nullable=False),
    sa.Column('country_code', sa.String(length=8), nullable=False),
    sa.Column('city', sa.String(length=100), nullable=False),
    sa.Column('isp', sa.String(length=200), nullable=False),
    sa.Column('speed', sa.Integer(), nullable=True),
    sa.Column('mobile', sa.Boolean(), nullable=False),
    sa.Column('hosting', sa.Boolean(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('synced_at', proxyfleet.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shop_products')),
    sa.UniqueConstraint('provider', 'upstream_product_id', name='uq_shop_products_upstream')
    )
    with op.batch_alter_table('shop_products', schema=None) as batch_op:
        batch_op.create_index('ix_shop_products_country_code', ['country_code', 'id'], unique=False)

    op.create_table('shop_providers',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('base_url', sa.String(length=2000), nullable=False),
    sa.Column('token', sa.String(length=2000), nullable=False),
    sa.Column('next_sync_at', proxyfleet.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_sync_at', proxyfleet.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_result', sa.JSON(), nullable=True),
    sa.Column('last_error', sa.String(length=1000), nullable=True),
    sa.Column('last_error_at', proxyfleet.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_shop_providers'))
    )
    op.create_table('telegram_bot_keys',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('created_at', proxyfleet.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', proxyfleet.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_telegram_bot_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_telegram_bot_keys_key_hash'))
    )
    op.create_table('telegram_links',
    sa.Column('telegram_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('linked_at', proxyfleet.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_telegram_links_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('telegram_id', name=op.f('pk_telegram_links')),
    sa.UniqueConstraint('user_id', name=op.f('uq_telegram_links_user_id'))
    )
    op.create_table('shop_orders',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('provider', sa.String(length=64), nullable=False),
    sa.Column('proxy_id', sa.BigInteger(), nullable=False),
    sa.Column('country', sa.String(length=100), nullable=False),
    sa.Column('isp', sa.String(length=200), nullable=False),
    sa.Column('price_cents', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_at', proxyfleet.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('credentials_id', sa.BigInteger(), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('port', sa.Integer(), nullable=True),
    sa.Column('login', sa.String(length=1000), nullable=True),
    sa.Column('password', sa.String(length=1000), nullable=True),
    sa.Column('expires_at', proxyfleet.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('refunded_at', proxyfleet.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('inventory_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['inventory_id'], ['proxies.id'], name=op.f('fk_shop_orders_inventory_id_proxies'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['product_id'], ['shop_products.id'], name=op.f('fk_shop_orders_product_id_shop_products')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_shop_orders_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shop_orders')),
    sa.UniqueConstraint('product_id', name=op.f('uq_shop_orders_product_id')),
    sa.UniqueConstraint('user_id', 'idempotency_key', name='uq_shop_orders_idempotency')
    )
    with op.batch_alter_table('shop_orders', schema=None) as batch_op:
        batch_op.create_index('ix_shop_orders_user_id', ['user_id', 'id'], unique=False)

    op.create_table('shop_refunds',
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('created_at', proxyfleet.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['shop_orders.id'], name=op.f('fk_shop_refunds_order_id_shop_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_shop_refunds_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_shop_refunds'))
    )


def downgrade() -> None:
    op.drop_table('shop_refunds')
    with op.batch_alter_table('shop_orders', schema=None) as batch_op:
        batch_op.drop_index('ix_shop_orders_user_id')

    op.drop_table('shop_orders')
    op.drop_table('telegram_links')
    op.drop_table('telegram_bot_keys')
    op.drop_table('shop_providers')
    with op.batch_alter_table('shop_products', schema=None) as batch_op:
        batch_op.drop_index('ix_shop_products_country_code')

    op.drop_table('shop_products')
