"""The simulated Telegram Bot API answers as the real one does for what bots call, and its
/_sim/ controls inject users' messages and taps and list what was sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from proxyfleet.sim.telegram import TelegramSim

TOKEN = "123:abc"


@pytest.fixture
async def telegram() -> AsyncIterator[TelegramSim]:
    async with TelegramSim([TOKEN]) as sim:
        yield sim


async def test_methods_answer_in_the_bot_apis_shape(telegram: TelegramSim) -> None:
    async with httpx.AsyncClient(base_url=f"{telegram.url}/bot{TOKEN}") as api:
        me = (await api.get("/getMe")).json()
        assert me["ok"] is True and me["result"]["is_bot"] is True
        sent = (await api.post("/sendMessage", json={
            "chat_id": 5, "text": "hello", "reply_markup": {"inline_keyboard": [[
                {"text": "Go", "callback_data": "go"}]]}})).json()["result"]
        assert (sent["chat"]["id"], sent["text"]) == (5, "hello")
        form = (await api.post("/sendMessage", data={"chat_id": "6", "text": "as a form",
                                                     "parse_mode": "HTML"})).json()
        assert form["result"]["text"] == "as a form"
        edited = (await api.post("/editMessageText", json={
            "chat_id": 5, "message_id": sent["message_id"], "text": "bye"})).json()
        assert edited["result"]["text"] == "bye"
        same = await api.post("/editMessageText", json={
            "chat_id": 5, "message_id": sent["message_id"], "text": "bye"})
        assert (same.status_code, same.json()["description"]) == (
            400, "Bad Request: message is not modified")
        empty = await api.post("/sendMessage", json={"chat_id": 5, "text": " "})
        assert (empty.status_code, empty.json()["ok"]) == (400, False)
        assert (await api.post("/noSuchMethod")).json()["error_code"] == 404
    async with httpx.AsyncClient(base_url=telegram.url) as control:
        wrong = await control.get("/bot999:nope/getMe")
        assert (wrong.status_code, wrong.json()["description"]) == (401, "Unauthorized")
        listed = (await control.get("/_sim/sent")).json()["messages"]
        assert [(m["chat_id"], m["text"], m["edits"]) for m in listed] == [
            (5, "bye", ["bye"]), (6, "as a form", [])]
        assert (await control.get("/_sim/sent", params={"chat_id": 6})).json()["messages"][0][
            "parse_mode"] == "HTML"


async def test_updates_are_long_polled_and_confirmed_by_offset(telegram: TelegramSim) -> None:
    async with httpx.AsyncClient(base_url=telegram.url, timeout=30) as http:
        poll = asyncio.ensure_future(http.post(f"/bot{TOKEN}/getUpdates", json={"timeout": 20}))
        await asyncio.sleep(0.1)
        assert not poll.done()  # waits for an update
        said = (await http.post("/_sim/users/9/messages", json={"text": "/start"})).json()
        updates = (await poll).json()["result"]
        assert [u["update_id"] for u in updates] == [said["update_id"]]
        message = updates[0]["message"]
        assert (message["from"]["id"], message["chat"]["id"], message["text"]) == (
            9, 9, "/start")
        assert message["entities"][0]["type"] == "bot_command"

        sent = (await http.post(f"/bot{TOKEN}/sendMessage",
                                json={"chat_id": 9, "text": "menu"})).json()["result"]
        tap = (await http.post("/_sim/users/9/callbacks", json={
            "message_id": sent["message_id"], "data": "go"})).json()
        again = (await http.post(f"/bot{TOKEN}/getUpdates", json={"timeout": 0})).json()
        assert [u["update_id"] for u in again["result"]] == [said["update_id"],
                                                             tap["update_id"]]
        confirmed = (await http.post(f"/bot{TOKEN}/getUpdates", json={
            "offset": tap["update_id"], "timeout": 0})).json()["result"]
        assert [u["callback_query"]["data"] for u in confirmed] == ["go"]
        nothing = (await http.post(f"/bot{TOKEN}/getUpdates", json={
            "offset": tap["update_id"] + 1, "timeout": 0})).json()["result"]
        assert nothing == []
        await http.post(f"/bot{TOKEN}/answerCallbackQuery",
                        json={"callback_query_id": tap["callback_query_id"], "text": "ok"})
        answers = (await http.get("/_sim/callback-answers")).json()["answers"]
        assert answers == [{"callback_query_id": tap["callback_query_id"], "text": "ok",
                            "show_alert": False}]
        missing = await http.post("/_sim/users/9/callbacks", json={"message_id": 999,
                                                                   "data": "x"})
        assert missing.status_code == 404


async def test_a_second_poller_ends_the_first_with_a_conflict(telegram: TelegramSim) -> None:
    async with httpx.AsyncClient(base_url=f"{telegram.url}/bot{TOKEN}", timeout=30) as api:
        first = asyncio.ensure_future(api.post("/getUpdates", json={"timeout": 20}))
        await asyncio.sleep(0.1)
        second = asyncio.ensure_future(api.post("/getUpdates", json={"timeout": 20}))
        ended = await first
        assert (ended.status_code, ended.json()["error_code"]) == (409, 409)
        assert "only one bot instance" in ended.json()["description"]
        await telegram.user_says(3, "hi")
        assert (await second).json()["result"][0]["message"]["text"] == "hi"
