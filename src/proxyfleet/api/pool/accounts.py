"""Accounts domain endpoints of the pool API: auth, keys, account, credits, admin grants."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query, Response

from proxyfleet.api.auth import Accounts, Admin, Caller, Registration
from proxyfleet.api.pagination import (
    Cursors,
    created_cursor,
    created_position,
    page_in_created_order,
)
from proxyfleet.api.pool.envelope import errors, pool_router
from proxyfleet.api.pool.schemas import (
    AccountOut,
    CreditsOut,
    GrantIn,
    GrantOut,
    IssuedKeyOut,
    KeyIn,
    KeyListOut,
    KeyOut,
    RegisterIn,
    RegisterOut,
    TransactionOut,
    UserAdminOut,
    UserOut,
    UserPage,
)
from proxyfleet.core.accounts import Currency

router = pool_router()


@router.post("/auth/register", responses=errors(403, 409, 422),
             status_code=201, response_model=RegisterOut, tags=["auth"])
async def register(body: RegisterIn, accounts: Accounts, _: Registration) -> RegisterOut:
    user, issued = await accounts.register(str(body.email), body.display_name)
    return RegisterOut(user=UserOut.of(user), api_key=IssuedKeyOut.of(issued))


@router.post("/auth/keys", responses=errors(401, 422),
             status_code=201, response_model=IssuedKeyOut, tags=["auth"])
async def create_key(caller: Caller, accounts: Accounts, body: KeyIn | None = None) -> IssuedKeyOut:
    issued = await accounts.issue_key(caller.user.id, body.label if body else None)
    return IssuedKeyOut.of(issued)


@router.get("/auth/keys", responses=errors(401, 422), response_model=KeyListOut, tags=["auth"])
async def list_keys(caller: Caller, accounts: Accounts, cursors: Cursors,
                    limit: Annotated[int, Query(ge=1, le=200)] = 50,
                    cursor: Annotated[str | None, Query(max_length=500)] = None) -> KeyListOut:
    page = page_in_created_order(cursors, await accounts.keys(caller.user.id),
                                 lambda key: (key.created_at, key.id), limit, cursor)
    return KeyListOut(items=[KeyOut.of(k) for k in page.items], next_cursor=page.next_cursor,
                      total_count=page.total_count)


@router.delete("/auth/keys/{key_id}", responses=errors(401, 404, 422),
               status_code=204, tags=["auth"])
async def revoke_key(key_id: uuid.UUID, caller: Caller, accounts: Accounts) -> Response:
    await accounts.revoke_key(caller.user.id, key_id)
    return Response(status_code=204)


@router.get("/account", responses=errors(401, 422), response_model=AccountOut, tags=["account"])
async def account(caller: Caller, accounts: Accounts) -> AccountOut:
    found = await accounts.account(caller.user.id)
    user = found.user
    return AccountOut(id=user.id, email=user.email, display_name=user.display_name,
                      role=user.role, created_at=user.created_at, balances=found.balances)


@router.get("/account/credits", responses=errors(401, 422),
            response_model=CreditsOut, tags=["account"])
async def credits(caller: Caller, accounts: Accounts,
                  currency: Currency = Currency.CREDITS,
                  limit: Annotated[int, Query(ge=1, le=200)] = 20) -> CreditsOut:
    statement = await accounts.statement(caller.user.id, currency, limit)
    return CreditsOut(balance=statement.balance, currency=currency,
                      recent_transactions=[TransactionOut.of(e) for e in statement.entries])


@router.post("/admin/users/{user_id}/grants", responses=errors(401, 403, 404, 422),
             status_code=201, response_model=GrantOut,
             tags=["admin"])
async def grant(user_id: uuid.UUID, body: GrantIn, admin: Admin,
                accounts: Accounts) -> GrantOut:
    entry = await accounts.grant(admin, user_id, body.currency, body.amount, body.description)
    return GrantOut(user_id=user_id, transaction=TransactionOut.of(entry),
                    balance=entry.balance_after)


@router.get("/admin/users", responses=errors(401, 403, 422),
            response_model=UserPage, tags=["admin"])
async def list_users(admin: Admin, accounts: Accounts, cursors: Cursors,
                     limit: Annotated[int, Query(ge=1, le=200)] = 50,
                     cursor: Annotated[str | None, Query(max_length=500)] = None) -> UserPage:
    after = created_position(cursors, cursor) if cursor else None
    users, total = await accounts.users(limit, after)
    next_cursor = None
    if len(users) == limit:
        last = users[-1]
        next_cursor = created_cursor(cursors, last.created_at, last.id)
    return UserPage(items=[UserAdminOut.of(u) for u in users], next_cursor=next_cursor,
                    total_count=total)
