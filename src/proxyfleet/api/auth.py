"""Authentication dependencies: `Authorization: Bearer pp_…` to a Principal."""

from __future__ import annotations

import ipaddress
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

from proxyfleet.accounts.service import AccountsService
from proxyfleet.bootstrap import Container
from proxyfleet.core.accounts import Principal, Role, User
from proxyfleet.core.errors import Forbidden, Unauthenticated

# Dependencies are `async def` on purpose: FastAPI runs plain `def` dependencies in a thread
# pool, a thread hop per dependency per request.


def container_of(request: Request) -> Container:
    found: Container = request.app.state.container
    return found


async def container(request: Request) -> Container:
    return container_of(request)


async def accounts_service(request: Request) -> AccountsService:
    return container_of(request).accounts


async def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Missing API key: send `Authorization: Bearer pp_…`.")
    return token.strip()


async def current_principal(request: Request) -> Principal:
    # One dependency, not one per header and service: every protected request resolves it.
    return await container_of(request).accounts.authenticate(await bearer_token(request))


async def current_admin(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    if not principal.is_admin:
        raise Forbidden("This endpoint is for admins.")
    return principal


class RegistrationClosed(Forbidden):
    code = "REGISTRATION_CLOSED"


async def registration_open(request: Request) -> None:
    if not container_of(request).settings.registration_open:
        raise RegistrationClosed("Registration is closed; ask an admin for an account.")


# Who a keyless loopback call to seed 004's routes acts as, when the setting allows it.
LOOPBACK_ADMIN = Principal(User(uuid.UUID(int=0), "loopback@localhost", "loopback", Role.ADMIN,
                                datetime(1970, 1, 1, tzinfo=UTC)), uuid.UUID(int=0))


async def local_admin(request: Request) -> Principal:
    """An admin's key, or (with `ipv6_api_keyless_loopback`) no key at all from loopback."""
    keyless = not request.headers.get("authorization")
    if keyless and container_of(request).settings.ipv6_api_keyless_loopback \
            and _is_loopback(request.client.host if request.client else ""):
        return LOOPBACK_ADMIN
    return await current_admin(await current_principal(request))


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


Registration = Annotated[None, Depends(registration_open)]
Caller = Annotated[Principal, Depends(current_principal)]
Admin = Annotated[Principal, Depends(current_admin)]
LocalAdmin = Annotated[Principal, Depends(local_admin)]
Accounts = Annotated[AccountsService, Depends(accounts_service)]
