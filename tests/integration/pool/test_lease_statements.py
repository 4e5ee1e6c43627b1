"""On PostgreSQL an acquire and a release are one statement each, run outside a transaction
block (the statement is its own transaction): no BEGIN and COMMIT round trips."""

from __future__ import annotations

from contextlib import AbstractContextManager

import httpx
import pytest

from proxyfleet.bootstrap import Container
from tests.conftest import Member
from tests.integration.pool.seeding import addresses, funded, seed
from tests.integration.statements import Ran, statements_run


@pytest.fixture(autouse=True)
def postgresql_only(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite runs a grant as several statements in one write transaction")


def statements(container: Container) -> AbstractContextManager[list[Ran]]:
    """Each statement the writer runs in the block."""
    return statements_run(container.database.engines.writer)


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
    assert [(ran.verb, ran.isolation) for ran in acquired] == [("WITH", "AUTOCOMMIT")]
    # The release locks its proxy row in a CTE first (see storage/leases.py).
    assert [(ran.verb, ran.isolation) for ran in released] == [("WITH", "AUTOCOMMIT")]
