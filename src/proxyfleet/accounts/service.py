"""Account use cases: register, authenticate, manage keys, move money. Commits here."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from proxyfleet.accounts.principals import PrincipalCache
from proxyfleet.accounts.rules import normalise_email, require_positive, should_touch
from proxyfleet.core.accounts import (
    ApiKey,
    Currency,
    IssuedKey,
    LedgerEntry,
    Principal,
    Role,
    TxType,
    User,
)
from proxyfleet.core.clock import utcnow
from proxyfleet.core.errors import (
    Forbidden,
    InsufficientFunds,
    NotFound,
    Unauthenticated,
)
from proxyfleet.core.events import credit_events
from proxyfleet.core.keys import display_prefix, key_digest, looks_like_key, new_raw_key
from proxyfleet.storage.uow import Database, UnitOfWork


@dataclass(frozen=True, slots=True)
class Account:
    user: User
    balances: dict[Currency, int]


@dataclass(frozen=True, slots=True)
class Statement:
    balance: int
    entries: list[LedgerEntry]


class AccountsService:
    def __init__(self, database: Database, key_secret: bytes, *, signup_credits: int = 0,
                 clock: Callable[[], datetime] = utcnow,
                 principals: PrincipalCache | None = None,
                 credits_low_threshold: int = 0) -> None:
        self._db = database
        self._credits_low = credits_low_threshold
        self._secret = key_secret
        self._signup_credits = signup_credits
        self._now = clock
        self._principals = principals if principals is not None else PrincipalCache(0)

    async def register(self, email: str, display_name: str | None,
                       role: Role = Role.USER) -> tuple[User, IssuedKey]:
        email = normalise_email(email)
        user = User(uuid.uuid4(), email, display_name or email.split("@")[0], role, self._now())
        async with self._db.writing() as uow:
            await uow.accounts.add_user(user)
            issued = await self._add_key(uow, user.id, "default")
            if self._signup_credits:
                await uow.accounts.move(user.id, Currency.CREDITS, self._signup_credits,
                                        TxType.PURCHASE, "Sign-up credits", self._now())
            await uow.commit()
        return user, issued

    async def authenticate(self, raw_key: str) -> Principal:
        if not looks_like_key(raw_key):
            raise Unauthenticated("Invalid API key.")
        digest = key_digest(raw_key, self._secret)
        remembered = self._principals.get(digest)
        if remembered is not None:
            return remembered
        revocations = self._principals.revocations
        async with self._db.reading_statements() as uow:
            found = await uow.accounts.key_by_hash(digest)
        if found is None or found[0].is_revoked:
            raise Unauthenticated("Invalid or revoked API key.")
        key, user = found
        now = self._now()
        if should_touch(key.last_used_at, now):
            async with self._db.writing() as uow:
                await uow.accounts.touch_key(key.id, now)
                await uow.commit()
        principal = Principal(user, key.id)
        self._principals.put(digest, principal, revocations)
        return principal

    async def issue_key(self, user_id: uuid.UUID, label: str | None) -> IssuedKey:
        async with self._db.writing() as uow:
            issued = await self._add_key(uow, user_id, label or "default")
            await uow.commit()
        return issued

    async def _add_key(self, uow: UnitOfWork, user_id: uuid.UUID, label: str) -> IssuedKey:
        raw = new_raw_key()
        key = ApiKey(uuid.uuid4(), user_id, display_prefix(raw), label, self._now(), None, None)
        await uow.accounts.add_key(key, key_digest(raw, self._secret))
        return IssuedKey(key, raw)

    async def keys(self, user_id: uuid.UUID) -> list[ApiKey]:
        async with self._db.reading() as uow:
            return await uow.accounts.keys_of(user_id)

    async def revoke_key(self, user_id: uuid.UUID, key_id: uuid.UUID) -> None:
        """Revoke one of the caller's keys; revoking a revoked key again changes nothing."""
        async with self._db.writing() as uow:
            if await uow.accounts.key_of(user_id, key_id) is None:
                raise NotFound("No such API key.", {"key_id": str(key_id)})
            await uow.accounts.revoke_key(key_id, self._now())
            await uow.commit()
        self._principals.forget_key(key_id)

    async def account(self, user_id: uuid.UUID) -> Account:
        async with self._db.reading() as uow:
            user = await uow.accounts.user(user_id)
            if user is None:
                raise NotFound("No such user.", {"user_id": str(user_id)})
            return Account(user, await uow.accounts.balances(user_id))

    async def users(self, limit: int,
                    after: tuple[datetime, uuid.UUID] | None) -> tuple[list[User], int]:
        async with self._db.reading() as uow:
            return await uow.accounts.users(limit, after), await uow.accounts.count_users()

    async def statement(self, user_id: uuid.UUID, currency: Currency,
                        limit: int = 20) -> Statement:
        async with self._db.reading() as uow:
            return Statement(await uow.accounts.balance(user_id, currency),
                             await uow.accounts.recent_entries(user_id, currency, limit))

    async def grant(self, admin: Principal, user_id: uuid.UUID, currency: Currency,
                    amount: int, description: str | None) -> LedgerEntry:
        if not admin.is_admin:
            raise Forbidden("Only admins can grant credits or money.")
        require_positive(amount)
        async with self._db.writing() as uow:
            if await uow.accounts.user(user_id) is None:
                raise NotFound("No such user.", {"user_id": str(user_id)})
            entry = await uow.accounts.move(user_id, currency, amount, TxType.PURCHASE,
                                            description or "Granted by an admin", self._now())
            assert entry is not None  # a positive movement always applies
            await uow.commit()
        return entry

    async def debit(self, user_id: uuid.UUID, currency: Currency, amount: int,
                    tx_type: TxType, description: str) -> LedgerEntry:
        """Take `amount` from a balance, or raise InsufficientFunds and change nothing."""
        require_positive(amount)
        async with self._db.writing() as uow:
            entry = await uow.accounts.move(user_id, currency, -amount, tx_type, description,
                                            self._now())
            if entry is None:
                balance = await uow.accounts.balance(user_id, currency)
                raise InsufficientFunds(
                    f"You need at least {amount} {currency.value} for this. "
                    f"Current balance: {balance}.",
                    {"required": amount, "balance": balance, "currency": currency.value})
            if currency is Currency.CREDITS:
                for event in credit_events(user_id, entry.balance_after + amount,
                                           entry.balance_after, self._credits_low):
                    uow.events.add(event)
            await uow.commit()
        return entry
