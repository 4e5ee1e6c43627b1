"""Repository for users, API keys, balances and the ledger. Never commits.

Balance movements and ledger entries are Core statements built once: every lease acquire
runs them, and ORM-enabled statements spend more CPU than the round trip."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

from sqlalchemy import BigInteger, Table, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from proxyfleet.core.accounts import ApiKey, Currency, LedgerEntry, Role, TxType, User
from proxyfleet.core.errors import EmailTaken
from proxyfleet.storage.statements import bulk_update
from proxyfleet.storage.tables import ApiKeyRow, BalanceRow, LedgerEntryRow, UserRow

BALANCES = cast(Table, BalanceRow.__table__)
LEDGER = cast(Table, LedgerEntryRow.__table__)

_delta = bindparam("delta", type_=BigInteger())
# One conditional UPDATE decides, so concurrent debits cannot both pass.
_ADJUST = (
    update(BALANCES)
    .where(BALANCES.c.user_id == bindparam("owner"), BALANCES.c.currency == bindparam("coin"),
           BALANCES.c.amount + _delta >= 0)
    .values(amount=BALANCES.c.amount + _delta, version=BALANCES.c.version + 1)
    .returning(BALANCES.c.amount, BALANCES.c.version))
_APPEND = insert(LEDGER)
_KEYS = cast(Table, ApiKeyRow.__table__)
_USERS = cast(Table, UserRow.__table__)
# Every request whose key is not in the principal cache runs this.
_KEY_BY_HASH = (
    select(_KEYS.c.id, _KEYS.c.user_id, _KEYS.c.prefix, _KEYS.c.label, _KEYS.c.created_at,
           _KEYS.c.last_used_at, _KEYS.c.revoked_at, _USERS.c.email, _USERS.c.display_name,
           _USERS.c.role, _USERS.c.created_at.label("user_created_at"))
    .join(_USERS, _USERS.c.id == _KEYS.c.user_id)
    .where(_KEYS.c.key_hash == bindparam("digest")))


def _user(row: UserRow) -> User:
    return User(row.id, row.email, row.display_name, Role(row.role), row.created_at)


def _key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(row.id, row.user_id, row.prefix, row.label, row.created_at,
                  row.last_used_at, row.revoked_at)


def _entry(row: LedgerEntryRow) -> LedgerEntry:
    return LedgerEntry(row.id, row.user_id, Currency(row.currency), row.amount,
                       row.balance_after, TxType(row.tx_type), row.description, row.created_at)


class AccountsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_user(self, user: User) -> None:
        self._session.add(UserRow(id=user.id, email=user.email, display_name=user.display_name,
                                  role=user.role.value, created_at=user.created_at))
        try:
            await self._session.flush()
        except IntegrityError:
            raise EmailTaken("An account with this email already exists.",
                             {"email": user.email}) from None
        self._session.add_all(
            BalanceRow(user_id=user.id, currency=c.value, amount=0, version=0) for c in Currency
        )
        await self._session.flush()

    async def user(self, user_id: uuid.UUID) -> User | None:
        row = await self._session.get(UserRow, user_id)
        return _user(row) if row else None

    async def user_by_email(self, email: str) -> User | None:
        row = await self._session.scalar(select(UserRow).where(UserRow.email == email))
        return _user(row) if row else None

    async def users(self, limit: int, after: tuple[datetime, uuid.UUID] | None) -> list[User]:
        query = select(UserRow).order_by(UserRow.created_at, UserRow.id).limit(limit)
        if after is not None:
            query = query.where(
                (UserRow.created_at > after[0])
                | ((UserRow.created_at == after[0]) & (UserRow.id > after[1]))
            )
        return [_user(row) for row in await self._session.scalars(query)]

    async def count_users(self) -> int:
        return int(await self._session.scalar(select(func.count()).select_from(UserRow)) or 0)

    async def add_key(self, key: ApiKey, key_hash: str) -> None:
        self._session.add(ApiKeyRow(id=key.id, user_id=key.user_id, prefix=key.prefix,
                                    key_hash=key_hash, label=key.label,
                                    created_at=key.created_at))
        await self._session.flush()

    async def key_by_hash(self, key_hash: str) -> tuple[ApiKey, User] | None:
        found = (await self._session.execute(_KEY_BY_HASH, {"digest": key_hash})).first()
        if found is None:
            return None
        return (ApiKey(found.id, found.user_id, found.prefix, found.label, found.created_at,
                       found.last_used_at, found.revoked_at),
                User(found.user_id, found.email, found.display_name, Role(found.role),
                     found.user_created_at))

    async def keys_of(self, user_id: uuid.UUID) -> list[ApiKey]:
        query = (select(ApiKeyRow).where(ApiKeyRow.user_id == user_id)
                 .order_by(ApiKeyRow.created_at, ApiKeyRow.id))
        return [_key(row) for row in await self._session.scalars(query)]

    async def key_of(self, user_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey | None:
        row = await self._session.get(ApiKeyRow, key_id)
        return _key(row) if row and row.user_id == user_id else None

    async def revoke_key(self, key_id: uuid.UUID, at: datetime) -> None:
        await self._session.execute(
            bulk_update(ApiKeyRow).where(ApiKeyRow.id == key_id, ApiKeyRow.revoked_at.is_(None))
            .values(revoked_at=at)
        )

    async def touch_key(self, key_id: uuid.UUID, at: datetime) -> None:
        await self._session.execute(
            bulk_update(ApiKeyRow).where(ApiKeyRow.id == key_id).values(last_used_at=at)
        )

    async def balance(self, user_id: uuid.UUID, currency: Currency) -> int:
        amount = await self._session.scalar(
            select(BalanceRow.amount).where(BalanceRow.user_id == user_id,
                                            BalanceRow.currency == currency.value))
        return int(amount or 0)

    async def balances(self, user_id: uuid.UUID) -> dict[Currency, int]:
        rows = await self._session.execute(
            select(BalanceRow.currency, BalanceRow.amount).where(BalanceRow.user_id == user_id))
        found = {Currency(currency): int(amount) for currency, amount in rows}
        return {c: found.get(c, 0) for c in Currency}

    async def move(self, user_id: uuid.UUID, currency: Currency, amount: int, tx_type: TxType,
                   description: str, at: datetime) -> LedgerEntry | None:
        """Change a balance by `amount` and append its ledger entry, or do nothing and return
        None when a debit would take the balance below zero."""
        moved = await self.adjust(user_id, currency, amount)
        if moved is None:
            return None
        return await self.append(user_id, currency, amount, moved, tx_type, description, at)

    async def adjust(self, user_id: uuid.UUID, currency: Currency,
                     amount: int) -> tuple[int, int] | None:
        """Move the balance alone: `(balance_after, version)`, or None when it would go below
        zero. One conditional UPDATE decides, so concurrent debits cannot both pass. The caller
        appends the ledger entry in the same transaction."""
        moved = (await self._session.execute(
            _ADJUST, {"owner": user_id, "coin": currency.value, "delta": amount})).first()
        return (int(moved.amount), int(moved.version)) if moved is not None else None

    async def append(self, user_id: uuid.UUID, currency: Currency, amount: int,
                     moved: tuple[int, int], tx_type: TxType, description: str,
                     at: datetime) -> LedgerEntry:
        balance_after, version = moved
        entry = LedgerEntry(uuid.uuid4(), user_id, currency, amount, balance_after, tx_type,
                            description, at)
        await self._session.execute(_APPEND, {
            "id": entry.id, "seq": version, "user_id": user_id, "currency": currency.value,
            "amount": amount, "balance_after": balance_after, "tx_type": tx_type.value,
            "description": description, "created_at": at})
        return entry

    async def recent_entries(self, user_id: uuid.UUID, currency: Currency,
                             limit: int) -> list[LedgerEntry]:
        query = (select(LedgerEntryRow)
                 .where(LedgerEntryRow.user_id == user_id,
                        LedgerEntryRow.currency == currency.value)
                 .order_by(LedgerEntryRow.seq.desc()).limit(limit))
        return [_entry(row) for row in await self._session.scalars(query)]
