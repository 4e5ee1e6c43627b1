"""The shop's pure rules: sync plans, refund rules, order numbers, money."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from proxyfleet.core.shop import Order, OrderState, RefundEvidence, UpstreamProduct
from proxyfleet.shop.rules import (
    RefundRule,
    dollars,
    next_sync,
    order_number,
    plan_sync,
    refund_refusal,
)

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _product(n: int, status: int = 1, city: str = "Paris") -> UpstreamProduct:
    return UpstreamProduct(n, 5000 + n, f"127.0.0.{n}", "France", "FR", city, "Orange", 100,
                           False, False, status)


def test_a_sync_plan_adds_updates_skips_and_removes() -> None:
    known = {1: (11, _product(1)), 2: (12, _product(2)), 3: (13, _product(3)),
             4: (14, _product(4))}
    fetched = [_product(1), _product(2, city="Lyon"), _product(3, status=0), _product(5),
               _product(5), _product(6, status=0)]
    plan = plan_sync(fetched, known)
    assert plan.added == [_product(5)]
    assert plan.updated == [(12, _product(2, city="Lyon"))]
    assert plan.skipped == [11]
    assert sorted(plan.vanished) == [13, 14]  # fetched offline, and not fetched at all


def _order(created: datetime, refunded: datetime | None = None,
           state: OrderState = OrderState.COMPLETED) -> Order:
    return Order(7, uuid.uuid4(), 1, "socks-api", 5001, "France", "Orange", 200, state,
                 created, None, None, None, refunded)


def test_refund_rules_in_order() -> None:
    hour = timedelta(hours=1)
    assert refund_refusal(_order(NOW - timedelta(minutes=59)), NOW, hour) is None
    late = refund_refusal(_order(NOW - timedelta(minutes=61)), NOW, hour)
    assert late is not None and "within 60 minutes" in late and "61 minutes ago" in late
    assert refund_refusal(_order(NOW, refunded=NOW), NOW, hour) == RefundRule.ALREADY_REFUNDED
    pending = _order(NOW, state=OrderState.PENDING)
    assert refund_refusal(pending, NOW, hour) == RefundRule.NOT_COMPLETED


def test_offline_means_the_provider_says_so_or_our_check_failed_twice() -> None:
    evidence = RefundEvidence(1, None, (False, False), ("refused", "refused"))
    assert evidence.offline
    assert replace(evidence, upstream_status=0, own_checks=(True,)).offline
    assert not replace(evidence, own_checks=(False,)).offline
    assert not replace(evidence, own_checks=(False, True)).offline
    assert not replace(evidence, upstream_status=None, own_checks=()).offline


def test_order_numbers_and_money() -> None:
    assert order_number("ORD-12345") == 12345
    assert order_number(" ORD-7 ") == 7
    assert order_number("ord-7") is None and order_number("ORD-") is None
    assert order_number("ORD-1e3") is None
    assert dollars(200) == Decimal("2.00") and str(dollars(8400)) == "84.00"


def test_the_next_sync_stays_on_the_interval_grid() -> None:
    five = timedelta(minutes=5)
    assert next_sync(NOW, NOW, five) == NOW + five
    assert next_sync(NOW - timedelta(minutes=12), NOW, five) == NOW + timedelta(minutes=3)
