"""What the bot says: messages and keyboards, built from the API's answers. Pure."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

MAX_LISTED = 8


def money(cents: int) -> str:
    return f"${Decimal(cents) / 100:.2f}"


def _button(text: str, data: str) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(text=text, callback_data=data)]


def main_menu() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        _button("💰 Balance", "menu:balance"), _button("🌍 Proxies by country", "menu:countries"),
        _button("📦 My orders", "menu:orders")])


def welcome(balance_cents: int) -> str:
    return (f"Welcome to the proxy shop.\nYour balance: {money(balance_cents)}.\n"
            "Every SOCKS5 proxy has one fixed price; an offline proxy is refunded within an "
            "hour of purchase.")


def balance(balance_cents: int) -> str:
    return f"Your balance: {money(balance_cents)}."


def countries(listing: dict[str, Any]) -> tuple[str, InlineKeyboardMarkup | None]:
    counted = Counter(p["country_code"] for p in listing["proxies"])
    if not counted:
        return "No proxies are for sale right now.", None
    rows = [_button(f"{code} ({n})", f"country:{code}") for code, n in sorted(counted.items())]
    return "Choose a country:", InlineKeyboardMarkup(inline_keyboard=rows)


def offers(country_code: str, listing: dict[str, Any]
           ) -> tuple[str, InlineKeyboardMarkup | None]:
    proxies = listing["proxies"][:MAX_LISTED]
    if not proxies:
        return f"No proxies in {country_code} right now.", None
    rows = [_button(f"Buy {p['city']} · {p['ISP']} · ${p['price']:.2f}",
                    f"buy:{p['product_id']}") for p in proxies]
    return (f"Proxies in {country_code} ({listing['total']} for sale):",
            InlineKeyboardMarkup(inline_keyboard=rows))


def credentials(order: dict[str, Any]) -> str:
    creds = order["credentials"]
    return (f"Order {order['order_id']}: SOCKS5 {creds['ip']}:{creds['port']}\n"
            f"login: {creds['login']}\npassword: {creds['password']}\n"
            f"{creds['country']} · {creds['ISP']} · ${order['price']:.2f}, "
            f"until {order['expires_at']}")


def refund_button(order: dict[str, Any]) -> InlineKeyboardMarkup | None:
    if not order.get("refundable"):
        return None
    return InlineKeyboardMarkup(inline_keyboard=[
        _button(f"Refund {order['order_id']} (if offline)", f"refund:{order['order_id']}")])


def no_orders() -> str:
    return "You have no orders yet."


def refunded(answer: dict[str, Any], order_id: str) -> str:
    return f"{order_id} refunded: ${answer['refund_amount']:.2f} is back on your balance."
