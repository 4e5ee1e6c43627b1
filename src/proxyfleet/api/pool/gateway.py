"""The rotating gateway's endpoints on the pool API: where it listens and how to log in, a
user's usage through it, and the bans its rules have set (admins)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query
from pydantic import BaseModel, Field

from proxyfleet.api.auth import Admin, Caller, container
from proxyfleet.api.pool.envelope import errors, pool_router
from proxyfleet.bootstrap import Container
from proxyfleet.core.gateway import Ban, Usage

router = pool_router(tags=["gateway"], responses=errors(401, 403, 422))
Services = Annotated[Container, Depends(container)]


class UsageOut(BaseModel):
    user_id: uuid.UUID
    requests: int
    bytes_up: int
    bytes_down: int

    @classmethod
    def of(cls, usage: Usage) -> UsageOut:
        return cls(user_id=usage.user_id, requests=usage.requests, bytes_up=usage.bytes_up,
                   bytes_down=usage.bytes_down)


class GatewayOut(BaseModel):
    running: bool = Field(description="Whether this server runs the gateway now.")
    host: str = Field(description="The address it listens on (`0.0.0.0` or `::`: every "
                      "address of the machine).")
    port: int = Field(description="Its port: the one it is bound to while it runs here, else "
                      "the configured one.")
    require_credentials: bool = Field(
        description="Clients log in with a username carrying options and an API key as the "
        "password.")
    protocols: list[str] = Field(description="What the one port speaks.")


class BanOut(BaseModel):
    proxy_id: uuid.UUID
    domain: str
    status: int
    banned_at: datetime
    banned_until: datetime

    @classmethod
    def of(cls, ban: Ban) -> BanOut:
        return cls(proxy_id=ban.proxy_id, domain=ban.domain, status=ban.status,
                   banned_at=ban.banned_at, banned_until=ban.banned_until)


class BanListOut(BaseModel):
    items: list[BanOut]


@router.get("/gateway", response_model=GatewayOut)
async def gateway_info(_: Caller, found: Services) -> GatewayOut:
    """Where the rotating gateway listens and how to log in: a client points at
    `http://user:<API key>@host:port` (options ride in the username, see the README)."""
    settings = found.settings
    server = found.gateway.server
    host, port = server.address if server is not None else (settings.gateway_host,
                                                            settings.gateway_port)
    # SOCKS4a carries the login in its user id (`username:key`).
    protocols = ["http", "connect", "socks5", "socks4"]
    return GatewayOut(running=server is not None, host=host, port=port,
                      require_credentials=settings.gateway_require_credentials,
                      protocols=protocols)


@router.get("/account/usage", response_model=UsageOut)
async def usage(caller: Caller, found: Services) -> UsageOut:
    """Requests started and bytes carried (up: from you, down: to you) through the gateway."""
    return UsageOut.of(await found.gateway.usage(caller.user.id))


@router.get("/gateway/bans", response_model=BanListOut)
async def bans(_: Admin, found: Services,
               domain: Annotated[str | None, Query(max_length=255)] = None) -> BanListOut:
    """Proxies kept away from a target domain by a ban rule, latest first."""
    return BanListOut(items=[BanOut.of(b) for b in await found.gateway.bans(
        domain.lower() if domain else None)])
