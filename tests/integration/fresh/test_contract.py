"""Contract mends a new user ran into (seeds 001 and 004)."""

from __future__ import annotations

import httpx
import pytest


@pytest.mark.parametrize("email", ["ops@corp.internal", "lab@office.local", "me@localhost"])
async def test_registration_accepts_internal_domains(client: httpx.AsyncClient,
                                                     email: str) -> None:
    response = await client.post("/auth/register", json={"email": email})
    assert response.status_code == 201, response.text
    assert response.json()["user"]["email"] == email


@pytest.mark.parametrize("email", ["notanemail", "a b@example.com", "x@-bad-.com", "@x.org"])
async def test_registration_refuses_malformed_addresses(client: httpx.AsyncClient,
                                                        email: str) -> None:
    response = await client.post("/auth/register", json={"email": email})
    assert response.status_code == 422
    fields = response.json()["error"]["details"]["fields"]
    assert fields[0]["field"] == "body.email"
