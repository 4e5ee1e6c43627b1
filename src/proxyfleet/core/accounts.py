"""Account entities: users, roles, API keys, the ledger. Frozen dataclasses, no I/O."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime


class Role(enum.StrEnum):
    ADMIN = "admin"
    USER = "user"


class Currency(enum.StrEnum):
    """Ledger currencies. Amounts are integers: credits, or US cents."""

    CREDITS = "credits"
    USD = "usd"


class TxType(enum.StrEnum):
    PURCHASE = "purchase"
    ACQUIRE = "acquire"
    REFUND = "refund"
    ORDER = "order"
    ADJUSTMENT = "adjustment"


@dataclass(frozen=True, slots=True)
class User:
    id: uuid.UUID
    email: str
    display_name: str
    role: Role
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: uuid.UUID
    user_id: uuid.UUID
    prefix: str
    label: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key at the one moment its raw value exists: right after it was made."""

    key: ApiKey
    raw: str


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    id: uuid.UUID
    user_id: uuid.UUID
    currency: Currency
    amount: int
    balance_after: int
    tx_type: TxType
    description: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user behind a valid, unrevoked key."""

    user: User
    key_id: uuid.UUID

    @property
    def is_admin(self) -> bool:
        return self.user.role is Role.ADMIN
