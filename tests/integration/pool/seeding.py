"""Test helpers that put proxies in the inventory in a known state."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update

from proxyfleet.bootstrap import Container
from proxyfleet.core.clock import utcnow
from proxyfleet.core.proxies import ProxyAddress, ProxyOrigin, ProxyProtocol
from proxyfleet.storage.tables import ProxyRow
from tests.conftest import Member, register


def addresses(count: int, *, protocol: ProxyProtocol = ProxyProtocol.HTTP,
              net: int = 10) -> list[ProxyAddress]:
    return [ProxyAddress(f"10.{net}.{i // 250}.{i % 250 + 1}", 8000 + i % 1000, protocol)
            for i in range(count)]


async def seed(container: Container, proxies: list[ProxyAddress], **fields: Any) -> None:
    """Add proxies and set their checked state directly (the pipeline's job, in production)."""
    await container.inventory.add(proxies, ProxyOrigin.MANUAL)
    if not fields:
        return
    values = {"last_checked_at": utcnow() - timedelta(minutes=1)} | fields
    hosts = [p.host for p in proxies]
    async with container.database.engines.writer.begin() as conn:
        await conn.execute(update(ProxyRow).where(ProxyRow.host.in_(hosts)).values(**values))


async def set_fields(container: Container, host: str, **fields: Any) -> None:
    async with container.database.engines.writer.begin() as conn:
        await conn.execute(update(ProxyRow).where(ProxyRow.host == host).values(**fields))


async def funded(client: httpx.AsyncClient, admin: Member, credits: int) -> Member:
    member = await register(client)
    if credits:
        response = await client.post(f"/admin/users/{member.id}/grants", headers=admin.headers,
                                     json={"currency": "credits", "amount": credits})
        assert response.status_code == 201, response.text
    return member
