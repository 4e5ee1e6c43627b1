"""The ledger under concurrency: debits race, the balance never goes below zero."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from proxyfleet.bootstrap import Container
from proxyfleet.core.accounts import Currency, TxType
from proxyfleet.core.errors import InsufficientFunds


async def _user_with(container: Container, admin_email: str, credits: int) -> uuid.UUID:
    from proxyfleet.core.accounts import Role

    admin, _ = await container.accounts.register(admin_email, None, Role.ADMIN)
    user, issued = await container.accounts.register(f"{uuid.uuid4().hex}@example.com", None)
    principal = await container.accounts.authenticate(issued.raw)
    admin_principal = type(principal)(admin, principal.key_id)
    await container.accounts.grant(admin_principal, user.id, Currency.CREDITS, credits, "seed")
    return user.id


async def test_200_concurrent_debits_against_50_leave_exactly_50(container: Container) -> None:
    user_id = await _user_with(container, "ledger-admin@example.com", 50)

    async def debit() -> bool:
        try:
            await container.accounts.debit(user_id, Currency.CREDITS, 1, TxType.ACQUIRE,
                                           "race")
        except InsufficientFunds:
            return False
        return True

    outcomes = await asyncio.gather(*(debit() for _ in range(200)))

    assert outcomes.count(True) == 50
    statement = await container.accounts.statement(user_id, Currency.CREDITS, limit=200)
    assert statement.balance == 0
    debits = [e for e in statement.entries if e.tx_type is TxType.ACQUIRE]
    assert len(debits) == 50
    # Every entry's running balance is consistent with the one before it.
    ordered = sorted(statement.entries, key=lambda e: e.balance_after, reverse=True)
    assert [e.balance_after for e in ordered] == list(range(50, -1, -1))


async def test_a_short_balance_raises_and_writes_nothing(container: Container) -> None:
    user_id = await _user_with(container, "short-admin@example.com", 2)
    with pytest.raises(InsufficientFunds) as caught:
        await container.accounts.debit(user_id, Currency.CREDITS, 3, TxType.ACQUIRE, "too much")
    assert caught.value.details == {"required": 3, "balance": 2, "currency": "credits"}
    statement = await container.accounts.statement(user_id, Currency.CREDITS)
    assert statement.balance == 2
    assert [e.tx_type for e in statement.entries] == [TxType.PURCHASE]
