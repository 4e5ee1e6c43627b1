"""The bot's conversation: /start (log in, balance, menu), balance, proxies by country, buy
with a button, orders with credentials, refund. Every handler calls the platform's API
through `PlatformClient`; a refusal is shown to the user in the API's own words.

A purchase's Idempotency-Key is made from the tapped message and button, so a re-sent tap
(Telegram re-delivers, the user taps twice) finds the first order instead of buying again.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, User

from proxyfleet.bot import texts
from proxyfleet.bot.client import PlatformClient, PlatformError, TelegramUser

router = Router(name="shop")
LISTING_PAGE = 200


def _user(who: User | None) -> TelegramUser:
    if who is None:
        raise PlatformError(400, "Telegram did not say who you are.")
    return TelegramUser(who.id, who.full_name)


@router.message(CommandStart())
async def start(message: Message, client: PlatformClient) -> None:
    user = _user(message.from_user)
    try:
        cents = await client.balance_cents(user)
    except PlatformError as error:
        await message.answer(f"Sorry: {error.detail}")
        return
    await message.answer(texts.welcome(cents), reply_markup=texts.main_menu())


@router.message(Command("balance"))
async def balance_command(message: Message, client: PlatformClient) -> None:
    await message.answer(await _balance_text(client, _user(message.from_user)))


@router.callback_query(F.data == "menu:balance")
async def balance_tap(query: CallbackQuery, client: PlatformClient) -> None:
    text = await _balance_text(client, _user(query.from_user))
    await query.answer()
    await _reply(query, text)


async def _balance_text(client: PlatformClient, user: TelegramUser) -> str:
    try:
        return texts.balance(await client.balance_cents(user))
    except PlatformError as error:
        return f"Sorry: {error.detail}"


@router.callback_query(F.data == "menu:countries")
async def countries_tap(query: CallbackQuery, client: PlatformClient) -> None:
    await query.answer()
    try:
        listing = await client.get_external_proxies(_user(query.from_user),
                                                    page_size=LISTING_PAGE)
    except PlatformError as error:
        await _reply(query, f"Sorry: {error.detail}")
        return
    text, keyboard = texts.countries(listing)
    await _reply(query, text, keyboard)


@router.callback_query(F.data.startswith("country:"))
async def country_tap(query: CallbackQuery, client: PlatformClient) -> None:
    await query.answer()
    code = (query.data or "").removeprefix("country:")
    await _offer(query, client, _user(query.from_user), code)


@router.message(Command("proxies"))
async def proxies_command(message: Message, command: CommandObject,
                          client: PlatformClient) -> None:
    code = (command.args or "").strip().upper()
    if not code:
        await message.answer("Send /proxies followed by a country code, e.g. /proxies US.")
        return
    await _offer(message, client, _user(message.from_user), code)


async def _offer(where: Message | CallbackQuery, client: PlatformClient, user: TelegramUser,
                 code: str) -> None:
    try:
        listing = await client.get_external_proxies(user, country_code=code)
    except PlatformError as error:
        await _reply(where, f"Sorry: {error.detail}")
        return
    text, keyboard = texts.offers(code, listing)
    await _reply(where, text, keyboard)


@router.callback_query(F.data.startswith("buy:"))
async def buy_tap(query: CallbackQuery, client: PlatformClient) -> None:
    product = (query.data or "").removeprefix("buy:")
    if not product.isdigit() or query.message is None:
        await query.answer("This button is no longer valid.")
        return
    # The tapped message and button: the same tap sent again is the same purchase.
    key = f"tg:{query.message.chat.id}:{query.message.message_id}:{product}"
    try:
        order = await client.purchase_external_proxy(_user(query.from_user), int(product), key)
    except PlatformError as error:
        await query.answer(error.detail, show_alert=True)
        await _reply(query, f"Not bought: {error.detail}")
        return
    await query.answer("Bought.")
    await _reply(query, texts.credentials(order), texts.refund_button(order))


@router.callback_query(F.data == "menu:orders")
async def orders_tap(query: CallbackQuery, client: PlatformClient) -> None:
    await query.answer()
    await _orders(query, client, _user(query.from_user))


@router.message(Command("orders"))
async def orders_command(message: Message, client: PlatformClient) -> None:
    await _orders(message, client, _user(message.from_user))


async def _orders(where: Message | CallbackQuery, client: PlatformClient,
                  user: TelegramUser) -> None:
    try:
        orders = await client.orders(user)
    except PlatformError as error:
        await _reply(where, f"Sorry: {error.detail}")
        return
    if not orders:
        await _reply(where, texts.no_orders())
    for order in orders:
        note = " (refunded)" if order["refunded"] else ""
        await _reply(where, texts.credentials(order) + note, texts.refund_button(order))


@router.callback_query(F.data.startswith("refund:"))
async def refund_tap(query: CallbackQuery, client: PlatformClient) -> None:
    order_id = (query.data or "").removeprefix("refund:")
    try:
        answer = await client.refund_external_proxy(_user(query.from_user), order_id)
    except PlatformError as error:
        await query.answer(error.detail, show_alert=True)
        await _reply(query, f"Not refunded: {error.detail}")
        return
    await query.answer("Refunded.")
    await _reply(query, texts.refunded(answer, order_id))


async def _reply(where: Message | CallbackQuery, text: str,
                 keyboard: InlineKeyboardMarkup | None = None) -> None:
    """A new message in the chat the command or the tapped button came from."""
    message = where.message if isinstance(where, CallbackQuery) else where
    if message is None or not hasattr(message, "answer"):
        return
    await message.answer(text, reply_markup=keyboard)
