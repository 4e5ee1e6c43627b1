"""Request and response models of the pool API's accounts and system endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from proxyfleet.accounts.rules import normalise_email
from proxyfleet.api.request_models import RequestModel
from proxyfleet.core.accounts import ApiKey, Currency, IssuedKey, LedgerEntry, Role, User
from proxyfleet.core.errors import InvalidInput

Strict = RequestModel


def _well_formed_email(text: str) -> str:
    try:
        return normalise_email(text)
    except InvalidInput as error:  # as a field error, in the 422's details.fields
        raise ValueError(error.message.removeprefix("Not a valid email address: ")) from None


EmailAddress = Annotated[str, Field(max_length=320, examples=["you@example.com"]),
                         AfterValidator(_well_formed_email)]


class RegisterIn(Strict):
    email: EmailAddress
    display_name: str | None = Field(None, min_length=1, max_length=200)


class KeyIn(Strict):
    label: str | None = Field(None, min_length=1, max_length=200)


class GrantIn(Strict):
    currency: Currency
    amount: int = Field(..., gt=0, le=10**12,
                        description="Credits, or US cents when currency is usd.")
    description: str | None = Field(None, max_length=500)


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    display_name: str

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(id=user.id, email=user.email, display_name=user.display_name)


class UserAdminOut(UserOut):
    role: Role
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserAdminOut:
        return cls(id=user.id, email=user.email, display_name=user.display_name,
                   role=user.role, created_at=user.created_at)


class KeyOut(BaseModel):
    id: uuid.UUID
    prefix: str
    label: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> KeyOut:
        return cls(id=key.id, prefix=key.prefix, label=key.label, created_at=key.created_at,
                   last_used_at=key.last_used_at, revoked_at=key.revoked_at)


class IssuedKeyOut(BaseModel):
    id: uuid.UUID
    key: str = Field(description="The raw key. Shown only in this response.")
    prefix: str
    label: str

    @classmethod
    def of(cls, issued: IssuedKey) -> IssuedKeyOut:
        return cls(id=issued.key.id, key=issued.raw, prefix=issued.key.prefix,
                   label=issued.key.label)


class RegisterOut(BaseModel):
    user: UserOut
    api_key: IssuedKeyOut


class KeyListOut(BaseModel):
    items: list[KeyOut]
    next_cursor: str | None
    total_count: int


class AccountOut(UserAdminOut):
    balances: dict[Currency, int] = Field(
        description="Per currency: credits, and usd in cents.")


class TransactionOut(BaseModel):
    amount: int
    tx_type: str
    description: str
    created_at: datetime
    currency: Currency
    balance_after: int

    @classmethod
    def of(cls, entry: LedgerEntry) -> TransactionOut:
        return cls(amount=entry.amount, tx_type=entry.tx_type.value,
                   description=entry.description, created_at=entry.created_at,
                   currency=entry.currency, balance_after=entry.balance_after)


class CreditsOut(BaseModel):
    balance: int
    currency: Currency
    recent_transactions: list[TransactionOut]


class GrantOut(BaseModel):
    user_id: uuid.UUID
    transaction: TransactionOut
    balance: int


class UserPage(BaseModel):
    items: list[UserAdminOut]
    next_cursor: str | None
    total_count: int


class HealthOut(BaseModel):
    status: Literal["healthy", "unhealthy"]
    database: str = Field(description="The database backend in use: sqlite or postgresql.")
    postgres: str = Field(description="connected, unreachable, or not_used (SQLite).")
    sqlite: str = Field(description="connected, unreachable, or not_used (PostgreSQL).")
    redis: str = Field(description="connected, unreachable, or not_configured.")
    version: str
