"""order inventory

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 15:20:00

`shop_orders.inventory_id` gets an index: the rotation's snapshot finds the buyer of each
bought proxy it may hand out by it (instead of reading every order ever sold at each reload),
and deleting a proxy sets its orders' reference to NULL without scanning them all.
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_shop_orders_inventory_id", "shop_orders", ["inventory_id"])


def downgrade() -> None:
    op.drop_index("ix_shop_orders_inventory_id", table_name="shop_orders")
