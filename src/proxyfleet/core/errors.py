"""Domain errors. Each carries a stable `code` and a `kind`; surfaces map them to their shapes.

Imports nothing of the project.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, ClassVar


class ErrorKind(enum.Enum):
    """What went wrong, independent of how a surface reports it."""

    INVALID = "invalid"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    PAYMENT_REQUIRED = "payment_required"
    UNAVAILABLE = "unavailable"
    RATE_LIMITED = "rate_limited"
    UPSTREAM = "upstream"
    INTERNAL = "internal"


class DomainError(Exception):
    """Base of every error a use case raises on purpose."""

    kind: ClassVar[ErrorKind] = ErrorKind.INTERNAL
    code: ClassVar[str] = "INTERNAL_ERROR"

    def __init__(self, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})


class InvalidInput(DomainError):
    kind = ErrorKind.INVALID
    code = "VALIDATION_ERROR"


class Unauthenticated(DomainError):
    kind = ErrorKind.UNAUTHENTICATED
    code = "UNAUTHORIZED"


class Forbidden(DomainError):
    kind = ErrorKind.FORBIDDEN
    code = "FORBIDDEN"


class NotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    code = "NOT_FOUND"


class Conflict(DomainError):
    kind = ErrorKind.CONFLICT
    code = "CONFLICT"


class EmailTaken(Conflict):
    code = "EMAIL_TAKEN"


class SourceExists(Conflict):
    code = "SOURCE_EXISTS"


class InsufficientFunds(DomainError):
    kind = ErrorKind.PAYMENT_REQUIRED
    code = "INSUFFICIENT_CREDITS"


class RateLimited(DomainError):
    """Too much, too fast: `details["retry_after_seconds"]` says when to come back."""

    kind = ErrorKind.RATE_LIMITED
    code = "RATE_LIMITED"


class Unavailable(DomainError):
    kind = ErrorKind.UNAVAILABLE
    code = "SERVICE_UNAVAILABLE"


class UpstreamFailed(DomainError):
    """Something outside proxyfleet (a list server, a provider) failed us."""

    kind = ErrorKind.UPSTREAM
    code = "UPSTREAM_FAILED"
