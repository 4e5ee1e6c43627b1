"""The Telegram bot end to end: aiogram polling the simulated Bot API, calling proxyfleet's
API served on a real loopback port, buying from the simulated provider. The test is the user:
it sends /start, taps buttons, and reads the bot's replies."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from proxyfleet.api.app import create_app
from proxyfleet.bootstrap import Container
from proxyfleet.bot.app import ShopBot
from proxyfleet.bot.client import PlatformClient
from proxyfleet.core.accounts import Currency
from proxyfleet.sim.telegram import SentMessage, TelegramSim
from proxyfleet.sim.upstream import UpstreamSim
from tests.conftest import Member
from tests.integration.pool.live import bound_socket, served
from tests.integration.shop.conftest import PRICE_CENTS, synced

BOT_TOKEN = "123456:TEST-token-for-the-simulated-bot-api"
USER = 4242


@pytest.fixture
async def platform_url(container: Container) -> AsyncIterator[str]:
    """proxyfleet's API on a real loopback port: the bot is its HTTP client."""
    sock = bound_socket()
    try:
        async with served(create_app(container), sock):
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@pytest.fixture
async def telegram() -> AsyncIterator[TelegramSim]:
    async with TelegramSim([BOT_TOKEN]) as sim:
        yield sim


@pytest.fixture
async def running_bot(telegram: TelegramSim, platform_url: str, client: httpx.AsyncClient,
                      admin: Member) -> AsyncIterator[ShopBot]:
    issued = await client.post("/api/telegram/bot-keys", headers=admin.headers, json={})
    assert issued.status_code == 201, issued.text
    bot = ShopBot(BOT_TOKEN, telegram.url, PlatformClient(platform_url, issued.json()["key"]))
    polling = asyncio.ensure_future(bot.run())
    try:
        yield bot
    finally:
        await bot.stop()
        await polling


async def _reply(telegram: TelegramSim, seen: int,
                 wanted: Callable[[SentMessage], bool]) -> SentMessage:
    """The first message the bot sends to the user after the first `seen` that `wanted`
    accepts (waits for it, up to 30 s)."""
    for _ in range(600):
        for message in telegram.sent(USER)[seen:]:
            if wanted(message):
                return message
        await asyncio.sleep(0.05)
    raise AssertionError(f"no such reply; the bot sent {[m.text for m in telegram.sent(USER)]}")


def _buttons(message: SentMessage) -> list[str]:
    markup = message.reply_markup or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


async def test_a_telegram_user_buys_once_per_tap_and_refunds(
        running_bot: ShopBot, telegram: TelegramSim, client: httpx.AsyncClient,
        admin: Member, container: Container, upstream: UpstreamSim) -> None:
    await synced(client, admin)
    await telegram.user_says(USER, "/start", "Ann")
    welcome = await _reply(telegram, 0, lambda m: "Welcome" in m.text)
    assert "Your balance: $0.00" in welcome.text
    assert _buttons(welcome) == ["menu:balance", "menu:countries", "menu:orders"]

    async with container.database.reading() as uow:  # the account the first login made
        user_id = await uow.telegram.user_of(USER)
    assert user_id is not None
    await container.accounts.grant(await container.accounts.authenticate(admin.key), user_id,
                                   Currency.USD, 500, None)

    seen = len(telegram.sent(USER))
    await telegram.user_taps(USER, welcome.message_id, "menu:countries")
    menu = await _reply(telegram, seen, lambda m: m.text == "Choose a country:")
    country = _buttons(menu)[0]
    seen = len(telegram.sent(USER))
    await telegram.user_taps(USER, menu.message_id, country)
    offers = await _reply(telegram, seen, lambda m: m.text.startswith("Proxies in"))
    buy = _buttons(offers)[0]
    assert buy.startswith("buy:")

    seen = len(telegram.sent(USER))
    await telegram.user_taps(USER, offers.message_id, buy)
    bought = await _reply(telegram, seen, lambda m: m.text.startswith("Order ORD-"))
    order_id = bought.text.split(":")[0].removeprefix("Order ")
    assert "login: " in bought.text and "password: " in bought.text
    # The same tap sent again: the same order, not a second purchase.
    seen = len(telegram.sent(USER))
    await telegram.user_taps(USER, offers.message_id, buy)
    again = await _reply(telegram, seen, lambda m: m.text.startswith("Order ORD-"))
    assert again.text == bought.text
    balance = (await container.accounts.account(user_id)).balances[Currency.USD]
    assert balance == 500 - PRICE_CENTS
    assert [a["callback_query_id"] for a in telegram.callback_answers] == ["1", "2", "3", "4"]

    seen = len(telegram.sent(USER))
    await telegram.user_says(USER, "/orders")
    listed = await _reply(telegram, seen, lambda m: m.text.startswith(f"Order {order_id}"))
    assert _buttons(listed) == [f"refund:{order_id}"]

    seen = len(telegram.sent(USER))
    await telegram.user_taps(USER, listed.message_id, f"refund:{order_id}")
    refused = await _reply(telegram, seen, lambda m: m.text.startswith("Not refunded"))
    assert "only offline proxies are refunded" in refused.text
    proxy_id = int(order_id.removeprefix("ORD-"))
    async with container.database.reading() as uow:
        order = await uow.orders.get(proxy_id)
    assert order is not None
    await upstream.set_status(order.proxy_id, 0)
    seen = len(telegram.sent(USER))
    await telegram.user_taps(USER, listed.message_id, f"refund:{order_id}")
    await _reply(telegram, seen, lambda m: m.text == f"{order_id} refunded: $2.00 is back on "
                                                    "your balance.")
    assert (await container.accounts.account(user_id)).balances[Currency.USD] == 500


async def test_a_bot_without_a_valid_key_logs_nobody_in(
        client: httpx.AsyncClient, member: Member) -> None:
    for key in ["tgb_forged", member.key, ""]:
        response = await client.post("/api/telegram/login", json={"telegram_id": 1},
                                     headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 401
        assert isinstance(response.json()["detail"], str)
    made = await client.post("/api/telegram/bot-keys", headers=member.headers, json={})
    assert made.status_code == 403


async def test_logging_in_again_replaces_the_previous_key(
        client: httpx.AsyncClient, admin: Member) -> None:
    key = (await client.post("/api/telegram/bot-keys", headers=admin.headers)).json()["key"]
    bot = {"Authorization": f"Bearer {key}"}
    first = (await client.post("/api/telegram/login", headers=bot,
                               json={"telegram_id": 77, "name": "Bo"})).json()
    second = (await client.post("/api/telegram/login", headers=bot,
                                json={"telegram_id": 77})).json()
    assert first["created"] is True and second["created"] is False
    assert first["user_id"] == second["user_id"]
    uuid.UUID(first["user_id"])
    old = await client.get("/account", headers={"Authorization":
                                                 f"Bearer {first['access_token']}"})
    new = await client.get("/account", headers={"Authorization":
                                                 f"Bearer {second['access_token']}"})
    assert (old.status_code, new.status_code) == (401, 200)
