"""Admins manage notifiers through the pool API; secrets are sealed and never shown again."""

from __future__ import annotations

import hashlib
import hmac

import httpx
from sqlalchemy import select

from proxyfleet.bootstrap import Container
from proxyfleet.storage.tables import NotifierRow
from tests.conftest import Member
from tests.integration.notify.helpers import add_webhook
from tests.integration.notify.receiver import receiving


async def test_add_list_change_delete_a_webhook(client: httpx.AsyncClient,
                                                admin: Member) -> None:
    created = await add_webhook(client, admin, "http://127.0.0.1:9/hook", ["source.*"])
    assert created["name"] == "webhook"
    assert created["subscribes_to"] == ["source.*"]
    assert created["healthy"] is True
    assert created["settings"]["url"] == "http://127.0.0.1:9/hook"
    assert created["secrets"] == ["secret"]
    assert "hook-secret" not in str(created)

    listed = (await client.get("/notifiers", headers=admin.headers)).json()
    assert [n["id"] for n in listed["items"]] == [created["id"]]
    assert "hook-secret" not in str(listed)

    changed = await client.patch(f"/notifiers/{created['id']}", headers=admin.headers,
                                 json={"subscribes_to": ["*"], "timeout_seconds": 3})
    assert changed.status_code == 200, changed.text
    assert changed.json()["subscribes_to"] == ["*"]
    assert changed.json()["settings"]["timeout_seconds"] == 3
    assert changed.json()["secrets"] == ["secret"]  # kept when not sent again

    assert (await client.delete(f"/notifiers/{created['id']}",
                                headers=admin.headers)).status_code == 204
    gone = await client.get(f"/notifiers/{created['id']}", headers=admin.headers)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "NOTIFIER_NOT_FOUND"


async def test_secrets_are_sealed_at_rest(client: httpx.AsyncClient, admin: Member,
                                          container: Container) -> None:
    await add_webhook(client, admin, "http://127.0.0.1:9/hook", secret="very-secret-value")
    async with container.database.engines.reader.connect() as conn:
        rows = (await conn.execute(select(NotifierRow.__table__))).all()
    assert len(rows) == 1
    assert "very-secret-value" not in str(tuple(rows[0]))
    assert container.database.box.looks_sealed(rows[0].secrets)


async def test_bad_bodies_get_the_pool_envelope(client: httpx.AsyncClient,
                                                admin: Member, member: Member) -> None:
    cases = [
        {"name": "carrier-pigeon", "url": "http://127.0.0.1:9/"},
        {"name": "webhook", "url": "not a url"},
        {"name": "webhook", "url": "http://127.0.0.1:9/", "colour": "red"},
        {"name": "webhook", "url": "http://127.0.0.1:9/", "subscribes_to": ["credits"]},
        {"name": "webhook", "url": "http://127.0.0.1:9/", "subscribes_to": []},
        {"name": "smtp", "host": "127.0.0.1"},
        {"name": "telegram", "bot_token": "nope", "chat_id": "1"},
    ]
    for body in cases:
        response = await client.post("/notifiers", json=body, headers=admin.headers)
        assert response.status_code == 422, (body, response.text)
        assert set(response.json()["error"]) == {"code", "message", "details"}
    forbidden = await client.post("/notifiers", headers=member.headers,
                                  json={"name": "webhook", "url": "http://127.0.0.1:9/"})
    assert forbidden.status_code == 403
    listed = (await client.get("/notifiers", headers=admin.headers)).json()
    assert listed["total_count"] == 0


async def test_stats_plugins_lists_configured_notifiers(client: httpx.AsyncClient,
                                                        admin: Member) -> None:
    await add_webhook(client, admin, "http://127.0.0.1:9/hook", ["*"])
    await client.post("/notifiers", headers=admin.headers, json={
        "name": "smtp", "host": "127.0.0.1", "port": 2525, "security": "none",
        "from_address": "pool@example.com", "to": ["ops@example.com"],
        "subscribes_to": ["proxy.pool_low", "credits.*"]})
    plugins = (await client.get("/stats/plugins", headers=admin.headers)).json()
    assert sorted(plugins["notifiers"], key=lambda n: n["name"]) == [
        {"name": "smtp", "healthy": True, "subscribes_to": ["proxy.pool_low", "credits.*"]},
        {"name": "webhook", "healthy": True, "subscribes_to": ["*"]},
    ]


async def test_test_message_is_signed_and_reaches_the_receiver(
        client: httpx.AsyncClient, admin: Member) -> None:
    async with receiving() as receiver:
        created = await add_webhook(client, admin, receiver.url)
        response = await client.post(f"/notifiers/{created['id']}/test", headers=admin.headers)
        assert response.status_code == 200, response.text
        assert response.json()["delivered"] is True
        [arrived] = receiver.received
    stamp = arrived.headers["X-Proxyfleet-Timestamp"]
    expected = hmac.new(b"hook-secret", stamp.encode() + b"." + arrived.body,
                        hashlib.sha256).hexdigest()
    assert arrived.headers["X-Proxyfleet-Signature"] == f"sha256={expected}"
    assert arrived.document["event"] == "notifier.test"
    assert arrived.document["id"] == response.json()["event_id"]


async def test_a_failing_test_message_is_a_502_and_marks_the_notifier_unhealthy(
        client: httpx.AsyncClient, admin: Member) -> None:
    async with receiving() as receiver:
        receiver.status = 500
        created = await add_webhook(client, admin, receiver.url)
        response = await client.post(f"/notifiers/{created['id']}/test", headers=admin.headers)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "NOTIFIER_TEST_FAILED"
    assert "500" in response.json()["error"]["details"]["error"]
    again = (await client.get(f"/notifiers/{created['id']}", headers=admin.headers)).json()
    assert again["healthy"] is False
    plugins = (await client.get("/stats/plugins", headers=admin.headers)).json()
    assert plugins["notifiers"] == [{"name": "webhook", "healthy": False, "subscribes_to": ["*"]}]
