"""A claim of due work takes one batch, however PostgreSQL plans it. Statistics gathered while
a table was empty (autovacuum behind a burst) once made the planner run a `LIMIT … FOR UPDATE
SKIP LOCKED` subquery inside `IN (…)` again for each row of a nested loop, each run skipping
the rows the statement had just claimed: one claim took far more than its limit (every
delivery at once in the outbox; tests/integration/notify/test_delivery.py holds that one)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from proxyfleet.bootstrap import Container
from proxyfleet.core.clock import utcnow
from proxyfleet.core.proxies import ProxyAddress, ProxyOrigin, ProxyProtocol


async def test_a_check_claim_takes_at_most_one_batch(container: Container) -> None:
    async with container.database.engines.writer.connect() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("ANALYZE proxies"))
            await conn.commit()
    await container.inventory.add(
        [ProxyAddress(f"10.9.{n // 250}.{n % 250 + 1}", 8080, ProxyProtocol.HTTP)
         for n in range(300)], ProxyOrigin.MANUAL)
    claims = []
    while True:
        async with container.database.writing() as uow:
            now = utcnow() + timedelta(days=1)  # every proxy's first check is due
            claimed = await uow.checks.claim_due(now, now + timedelta(hours=1), 10)
            await uow.commit()
        if not claimed:
            break
        claims.append(len(claimed))
    assert claims == [10] * 30
