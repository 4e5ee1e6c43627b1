"""The shop's domain errors, each with a code and a message a buyer can act on. Imports
only `core`."""

from __future__ import annotations

from proxyfleet.core.errors import (
    Conflict,
    InsufficientFunds,
    InvalidInput,
    NotFound,
    Unavailable,
    UpstreamFailed,
)


class ProductNotFound(NotFound):
    code = "PRODUCT_NOT_FOUND"


class ProductSold(Conflict):
    code = "PRODUCT_SOLD"


class ProductUnavailable(Conflict):
    """The provider no longer sells it (offline, gone, or sold there)."""

    code = "PRODUCT_UNAVAILABLE"


class InsufficientBalance(InsufficientFunds):
    code = "INSUFFICIENT_BALANCE"


class PurchaseFailed(UpstreamFailed):
    code = "PURCHASE_FAILED"


class PurchaseInProgress(Conflict):
    code = "PURCHASE_IN_PROGRESS"


class OrderNotFound(NotFound):
    code = "ORDER_NOT_FOUND"


class AlreadyRefunded(Conflict):
    code = "ALREADY_REFUNDED"


class RefundNotAllowed(InvalidInput):
    code = "REFUND_NOT_ALLOWED"


class EvidenceUnavailable(Unavailable):
    code = "EVIDENCE_UNAVAILABLE"


class SyncFailed(UpstreamFailed):
    code = "SYNC_FAILED"
