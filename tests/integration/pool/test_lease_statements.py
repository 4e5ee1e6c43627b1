"""On PostgreSQL an acquire and a release are one statement each, run outside a transaction
block (the statement is its own transaction): no BEGIN and COMMIT round trips."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from proxyfleet.bootstrap import Container
from tests.conftest import Member
from tests.integration.pool.seeding import addresses, funded, seed


@pytest.fixture(autouse=True)
def postgresql_only(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite runs a grant as several statements in one write transaction")


@contextmanager
def statements(container: Container) -> Iterator[list[tuple[str, str | None]]]:
    """(first word, isolation level) of each statement the writer runs in the block."""
    seen: list[tuple[str, str | None]] = []

    def record(_conn: Any, _cursor: Any, statement: str, _params: Any, context: Any,
               _many: bool) -> None:
        isolation = context.execution_options.get("isolation_level")
        seen.append((statement.split(None, 1)[0].upper(), isolation))

    engine = container.database.engines.writer.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_acquire_and_release_are_one_statement_each(
        client: httpx.AsyncClient, container: Container, admin: Member) -> None:
    await seed(container, addresses(3), status="active", score=0.5)
    member = await funded(client, admin, 5)
    await client.get("/account", headers=member.headers)  # the key is verified and cached

    with statements(container) as acquired:
        lease = (await client.post("/proxies/acquire", headers=member.headers)).json()
    with statements(container) as released:
        response = await client.post(f"/proxies/acquire/{lease['lease_id']}/release",
                                     headers=member.headers)

    assert response.status_code == 200
    assert acquired == [("WITH", "AUTOCOMMIT")]
    assert released == [("UPDATE", "AUTOCOMMIT")]
