"""The shop's pure rules: how a sync's fetched products compare with the catalogue, when an
order may be refunded, and how order numbers and money are written. Imports only `core`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from proxyfleet.core.shop import ORDER_PREFIX, Order, OrderState, UpstreamProduct

_ORDER_ID = re.compile(rf"^{ORDER_PREFIX}(\d{{1,18}})$")


@dataclass(slots=True)
class SyncPlan:
    """What a sync does: add new products, update changed ones, skip the same ones, and
    remove the ones the provider no longer lists online (`vanished`, catalogue row ids)."""

    added: list[UpstreamProduct] = field(default_factory=list)
    updated: list[tuple[int, UpstreamProduct]] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    vanished: list[int] = field(default_factory=list)


def plan_sync(fetched: Iterable[UpstreamProduct],
              known: Mapping[int, tuple[int, UpstreamProduct]]) -> SyncPlan:
    """Products are matched by the provider's own id; one fetched offline counts as gone."""
    plan = SyncPlan()
    online: set[int] = set()
    for product in fetched:
        if product.product_id in online or not product.online:
            continue  # offline, or listed twice because the pages shifted under us
        online.add(product.product_id)
        found = known.get(product.product_id)
        if found is None:
            plan.added.append(product)
        elif found[1] == product:
            plan.skipped.append(found[0])
        else:
            plan.updated.append((found[0], product))
    plan.vanished = [row_id for upstream_id, (row_id, _) in known.items()
                     if upstream_id not in online]
    return plan


def next_sync(due_at: datetime, now: datetime, interval: timedelta) -> datetime:
    """The next run after a due one: on the interval's grid, never in the past."""
    upcoming = due_at + interval
    while upcoming <= now:
        upcoming += interval
    return upcoming


def order_number(order_id: str) -> int | None:
    """`ORD-12345` → 12345; None for anything else."""
    found = _ORDER_ID.match(order_id.strip())
    return int(found.group(1)) if found else None


def dollars(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


class RefundRule:
    """Why an order cannot be refunded, one message per rule, checked in this order."""

    NOT_COMPLETED = "This order is not completed yet; try again in a moment."
    ALREADY_REFUNDED = "This order has already been refunded."
    WINDOW_PASSED = "Refunds are accepted within {minutes} minutes of purchase; this order " \
                    "was bought {age} minutes ago."
    ONLINE = "The proxy is online (the provider reports it online and our own check " \
             "passed); only offline proxies are refunded."


def refund_refusal(order: Order, now: datetime, window: timedelta) -> str | None:
    """The rule a refund breaks before any evidence is gathered, or None."""
    if order.refunded_at is not None:
        return RefundRule.ALREADY_REFUNDED
    if order.state is not OrderState.COMPLETED:
        return RefundRule.NOT_COMPLETED
    if now - order.created_at > window:
        return RefundRule.WINDOW_PASSED.format(
            minutes=int(window.total_seconds() // 60),
            age=int((now - order.created_at).total_seconds() // 60))
    return None
