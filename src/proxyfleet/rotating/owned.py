"""Private exits: a gateway user goes out through the proxy they bought in the shop, naming
its order in the username (`user-order-ORD-12345`). The shop says which inventory row that
order's proxy is, and only to its buyer; the rotation service hands a bought proxy to its
owner alone, so no other user, lease or rotation ever gets it.

Imports `core` and the gateway's answers.
"""

from __future__ import annotations

import uuid
from typing import Protocol

from proxyfleet.rotating.answers import not_yours
from proxyfleet.wire.target import Target


class OwnedExits(Protocol):
    """What the gateway asks of the shop (`ShopService.owned_exit`)."""

    async def owned_exit(self, user_id: uuid.UUID, order_number: int) -> uuid.UUID | None:
        """The inventory id of the proxy bought under this order, when the order is this
        user's, completed, not refunded and not expired."""
        ...


async def owned_exit(exits: OwnedExits | None, user: uuid.UUID | None, order: int,
                     target: Target) -> uuid.UUID:
    """The proxy `order` bought, if it is `user`'s to use; else a 403 naming the order."""
    found = None if exits is None or user is None else await exits.owned_exit(user, order)
    if found is None:
        raise not_yours(target, f"ORD-{order} is not an order of yours with a usable proxy "
                                "(unknown, refunded or expired)")
    return found
