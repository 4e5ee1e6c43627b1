"""The smtp notifier against a real SMTP server (aiosmtpd) on loopback, with a login; the
telegram notifier against a Bot API receiver on loopback (`telegram_api_url` points at it).

The receiver here is a stand-in until the simulated Telegram of `sim/telegram.py` is merged;
it answers sendMessage the way the Bot API does ({"ok": true, "result": …} or
{"ok": false, "error_code", "description"})."""

from __future__ import annotations

import asyncio
import email
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

import httpx
import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from proxyfleet.bootstrap import Container
from proxyfleet.core.events import EventName
from proxyfleet.settings import Settings
from proxyfleet.sim.telegram import TelegramSim
from tests.conftest import Member
from tests.integration.notify.helpers import emit, worker

BOT_TOKEN = "123456:test-token_ABC"


@dataclass
class Mailbox:
    port: int = 0
    messages: list[tuple[Envelope, Message]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session,
                          envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.messages.append((envelope, email.message_from_bytes(content)))
        return "250 OK"

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                     auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and auth_data.password == b"mail-pass":
            self.logins.append(auth_data.login.decode())
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@pytest.fixture
async def mailbox() -> AsyncIterator[Mailbox]:
    box = Mailbox()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(box, authenticator=box.authenticate, auth_require_tls=False,
                     hostname="mail.test"), "127.0.0.1", 0)
    box.port = server.sockets[0].getsockname()[1]
    try:
        yield box
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def bot_api() -> AsyncIterator[TelegramSim]:
    async with TelegramSim([BOT_TOKEN]) as sim:
        yield sim


def _sent(sim: TelegramSim) -> list[dict[str, Any]]:
    return [message.as_json() for message in sim.sent(None)]


@pytest.fixture
def settings(settings: Settings, bot_api: TelegramSim) -> Settings:
    return settings.model_copy(update={"telegram_api_url": bot_api.url})


async def _add(client: httpx.AsyncClient, admin: Member, body: dict[str, Any]) -> str:
    response = await client.post("/notifiers", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    notifier_id: str = response.json()["id"]
    return notifier_id


async def test_smtp_mails_each_subscribed_event(client: httpx.AsyncClient, admin: Member,
                                                container: Container,
                                                mailbox: Mailbox) -> None:
    notifier_id = await _add(client, admin, {
        "name": "smtp", "host": "127.0.0.1", "port": mailbox.port, "security": "none",
        "username": "pool-bot", "password": "mail-pass", "from_address": "pool@example.com",
        "to": ["ops@example.com", "oncall@example.com"],
        "subscribes_to": ["proxy.pool_low", "credits.*"]})
    shown = (await client.get(f"/notifiers/{notifier_id}", headers=admin.headers)).json()
    assert shown["secrets"] == ["password"] and "mail-pass" not in json.dumps(shown)

    await emit(container, EventName.POOL_LOW, {"watch": "all", "active": 3, "threshold": 10})
    await emit(container, EventName.SOURCE_FAILED, {"source_id": "x"})  # not subscribed
    assert await worker(container).run_once() == 1
    [(envelope, message)] = mailbox.messages
    assert envelope.mail_from == "pool@example.com"
    assert envelope.rcpt_tos == ["ops@example.com", "oncall@example.com"]
    assert message["Subject"] == "[proxyfleet] proxy.pool_low"
    text = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "active: 3" in text and "threshold: 10" in text
    assert mailbox.logins == ["pool-bot"]


async def test_smtp_refusing_the_login_marks_the_notifier_unhealthy(
        client: httpx.AsyncClient, admin: Member, mailbox: Mailbox) -> None:
    notifier_id = await _add(client, admin, {
        "name": "smtp", "host": "127.0.0.1", "port": mailbox.port, "security": "none",
        "username": "pool-bot", "password": "wrong", "from_address": "pool@example.com",
        "to": ["ops@example.com"]})
    tested = await client.post(f"/notifiers/{notifier_id}/test", headers=admin.headers)
    assert tested.status_code == 502
    assert "SMTPAuthenticationError" in tested.json()["error"]["details"]["error"]
    assert mailbox.messages == []
    fixed = await client.patch(f"/notifiers/{notifier_id}", headers=admin.headers,
                               json={"password": "mail-pass"})
    assert fixed.status_code == 200
    assert (await client.post(f"/notifiers/{notifier_id}/test",
                              headers=admin.headers)).status_code == 200
    assert len(mailbox.messages) == 1
    shown = (await client.get(f"/notifiers/{notifier_id}", headers=admin.headers)).json()
    assert shown["healthy"] is True


async def test_telegram_sends_messages_to_the_chat(client: httpx.AsyncClient, admin: Member,
                                                   container: Container,
                                                   bot_api: TelegramSim) -> None:
    notifier_id = await _add(client, admin, {"name": "telegram", "bot_token": BOT_TOKEN,
                                             "chat_id": "-1001234", "subscribes_to": ["*"]})
    shown = (await client.get(f"/notifiers/{notifier_id}", headers=admin.headers)).json()
    assert shown["secrets"] == ["bot_token"] and BOT_TOKEN not in json.dumps(shown)
    await emit(container, EventName.SOURCE_DISABLED,
               {"source_id": "s-1", "consecutive_failures": 5})
    await worker(container).run_once()
    [sent] = _sent(bot_api)
    assert sent["chat_id"] == -1001234
    assert sent["text"].startswith("proxyfleet: source.disabled")
    assert "consecutive_failures: 5" in sent["text"]


async def test_telegram_with_a_wrong_token_is_unhealthy_and_keeps_the_token_out_of_errors(
        client: httpx.AsyncClient, admin: Member, container: Container,
        bot_api: TelegramSim) -> None:
    notifier_id = await _add(client, admin, {"name": "telegram", "bot_token": "999:wrong",
                                             "chat_id": "42"})
    await emit(container, EventName.SOURCE_FAILED, {"source_id": "s-1"})
    await worker(container).run_once()
    shown = (await client.get(f"/notifiers/{notifier_id}", headers=admin.headers)).json()
    assert shown["healthy"] is False
    assert "Unauthorized" in shown["last_error"]
    assert "999:wrong" not in shown["last_error"]
    assert _sent(bot_api) == []
