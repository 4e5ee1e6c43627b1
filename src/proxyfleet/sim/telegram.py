"""A simulated Telegram Bot API on loopback, served by aiohttp: what a bot built on aiogram 3
calls (`getMe`, `getUpdates` with long polling, `sendMessage`, `editMessageText`,
`answerCallbackQuery`, `deleteMessage`, `deleteWebhook`, `setMyCommands`, `getChat`) under
`/bot<token>/<method>`, with parameters as JSON, form or query fields and answers in the
Bot API's `{"ok": true, "result": …}` / `{"ok": false, "error_code", "description"}` shape.

Any token it was started with works (`tokens`; empty: any token at all). Users are simulated
through controls under `/_sim/`, generic so that any bot or notifier can be tested with it:

    POST /_sim/users/{user_id}/messages     {"text": "/start", "first_name": "Ann"}
         → {"update_id", "message_id"}: the user writes to the bot in their private chat
    POST /_sim/users/{user_id}/callbacks    {"message_id": n, "data": "buy:1"}
         → {"update_id", "callback_query_id"}: the user taps a button of a bot message
    GET  /_sim/sent[?chat_id=N]             every message the bot sent (sendMessage), in order
    GET  /_sim/chats/{chat_id}              the chat as the user sees it now (edits applied)
    GET  /_sim/callback-answers             every answerCallbackQuery
    POST /_sim/reset                        forget everything

`proxyfleet sim telegram --port P` runs it. Imports aiohttp and the standard library.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

from proxyfleet.sim.web import HOST, json_body, serve_app

BOT_USER = {"id": 7000000001, "is_bot": True, "first_name": "proxyfleet",
            "username": "proxyfleet_sim_bot", "can_join_groups": False,
            "can_read_all_group_messages": False, "supports_inline_queries": False}
MAX_POLL_SECONDS = 50.0

Method = Callable[[dict[str, Any]], Awaitable[Any]]


class BotApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


@dataclass(slots=True)
class SentMessage:
    """A message the bot sent, as recorded for `/_sim/sent` (`edits`: texts it was given
    later by editMessageText, oldest first)."""

    chat_id: int
    message_id: int
    text: str
    reply_markup: dict[str, Any] | None
    parse_mode: str | None
    date: int
    edits: list[str] = field(default_factory=list)
    deleted: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"chat_id": self.chat_id, "message_id": self.message_id, "text": self.text,
                "reply_markup": self.reply_markup, "parse_mode": self.parse_mode,
                "date": self.date, "edits": list(self.edits), "deleted": self.deleted}

    def as_message(self) -> dict[str, Any]:
        """The Bot API's Message object for it."""
        message: dict[str, Any] = {"message_id": self.message_id, "date": self.date,
                                   "chat": {"id": self.chat_id, "type": "private"},
                                   "from": BOT_USER, "text": self.text}
        if self.reply_markup:
            message["reply_markup"] = self.reply_markup
        return message


def _user(user_id: int, first_name: str) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": first_name}


def _as_int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BotApiError(400, f"Bad Request: {name} is invalid") from None


def _markup(value: Any) -> dict[str, Any] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise BotApiError(400, "Bad Request: can't parse reply keyboard markup JSON "
                                   "object") from None
    if not isinstance(value, dict):
        raise BotApiError(400, "Bad Request: reply_markup must be an object")
    return value


class TelegramSim:
    """The Bot API; an async context manager serving on 127.0.0.1 (`port` 0: any)."""

    def __init__(self, tokens: Iterable[str] = (), *, port: int = 0) -> None:
        self.tokens = frozenset(tokens)
        self._port = port
        self._updates: list[dict[str, Any]] = []
        self._confirmed = 0  # update ids below this were confirmed by an offset
        self._polls = 0  # getUpdates calls so far: the newest one is the one that waits
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._sent: list[SentMessage] = []
        self._by_id: dict[tuple[int, int], SentMessage] = {}
        self._user_messages: list[dict[str, Any]] = []
        self.callback_answers: list[dict[str, Any]] = []
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._methods: dict[str, Method] = {
            "getme": self._get_me, "getupdates": self._get_updates,
            "sendmessage": self._send_message, "editmessagetext": self._edit_message_text,
            "answercallbackquery": self._answer_callback_query,
            "deletemessage": self._delete_message, "deletewebhook": self._true,
            "setmycommands": self._true, "deletemycommands": self._true,
            "getchat": self._get_chat, "close": self._true, "logout": self._true}

    # --- serving ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """The base URL a bot is given (aiogram: `TelegramAPIServer.from_base(url)`)."""
        return f"http://{HOST}:{self._port}"

    async def __aenter__(self) -> TelegramSim:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_post("/_sim/users/{user_id}/messages", self._sim_message)
        app.router.add_post("/_sim/users/{user_id}/callbacks", self._sim_callback)
        app.router.add_get("/_sim/sent", self._sim_sent)
        app.router.add_get("/_sim/chats/{chat_id}", self._sim_chat)
        app.router.add_get("/_sim/callback-answers", self._sim_answers)
        app.router.add_post("/_sim/reset", self._sim_reset)
        self._runner, self._port = await serve_app(app, self._port)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _api(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if self.tokens and token not in self.tokens:
            return _failure(401, "Unauthorized")
        method = self._methods.get(request.match_info["method"].lower())
        if method is None:
            return _failure(404, "Not Found")
        try:
            result = await method(await _parameters(request))
        except BotApiError as error:
            return _failure(error.code, error.description)
        return web.json_response({"ok": True, "result": result})

    # --- the Bot API's methods -------------------------------------------------------------

    async def _true(self, _: dict[str, Any]) -> bool:
        return True

    async def _get_me(self, _: dict[str, Any]) -> dict[str, Any]:
        return BOT_USER

    async def _get_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"id": _as_int(params.get("chat_id"), "chat_id"), "type": "private"}

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = _as_int(params.get("offset", 0), "offset")
        limit = min(max(_as_int(params.get("limit", 100), "limit"), 1), 100)
        wait = min(max(float(params.get("timeout", 0) or 0), 0.0), MAX_POLL_SECONDS)
        if offset:
            self._confirm(offset)
        async with self._arrived:
            # As Telegram does: a newer getUpdates ends the one still waiting with 409, so
            # two bot processes polling one token show up instead of sharing the updates.
            self._polls += 1
            mine = self._polls
            self._arrived.notify_all()
            if not self._pending():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait_for(
                        lambda: bool(self._pending()) or self._polls != mine), wait)
            if self._polls != mine:
                raise BotApiError(409, "Conflict: terminated by other getUpdates request; "
                                       "make sure that only one bot instance is running")
        return self._pending()[:limit]

    def _confirm(self, offset: int) -> None:
        self._confirmed = max(self._confirmed, offset)
        self._updates = [u for u in self._updates if u["update_id"] >= self._confirmed]

    def _pending(self) -> list[dict[str, Any]]:
        return [u for u in self._updates if u["update_id"] >= self._confirmed]

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = _as_int(params.get("chat_id"), "chat_id")
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise BotApiError(400, "Bad Request: message text is empty")
        sent = SentMessage(chat_id, next(self._message_ids), text,
                           _markup(params.get("reply_markup")), params.get("parse_mode"),
                           int(time.time()))
        self._sent.append(sent)
        self._by_id[(chat_id, sent.message_id)] = sent
        return sent.as_message()

    def _bot_message(self, params: dict[str, Any]) -> SentMessage:
        chat_id = _as_int(params.get("chat_id"), "chat_id")
        message_id = _as_int(params.get("message_id"), "message_id")
        found = self._by_id.get((chat_id, message_id))
        if found is None or found.deleted:
            raise BotApiError(400, "Bad Request: message to edit not found")
        return found

    async def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        found = self._bot_message(params)
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise BotApiError(400, "Bad Request: message text is empty")
        markup = _markup(params.get("reply_markup"))
        if text == found.text and markup == found.reply_markup:
            raise BotApiError(400, "Bad Request: message is not modified")
        found.edits.append(text)
        found.text, found.reply_markup = text, markup
        return found.as_message()

    async def _delete_message(self, params: dict[str, Any]) -> bool:
        self._bot_message(params).deleted = True
        return True

    async def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        self.callback_answers.append({"callback_query_id": str(params.get("callback_query_id")),
                                      "text": params.get("text"),
                                      "show_alert": params.get("show_alert") in (True, "true")})
        return True

    # --- simulated users -------------------------------------------------------------------

    async def user_says(self, user_id: int, text: str, first_name: str = "Tester"
                        ) -> dict[str, Any]:
        """A user writes `text` to the bot in their private chat."""
        message = {"message_id": next(self._message_ids), "date": int(time.time()),
                   "chat": {"id": user_id, "type": "private", "first_name": first_name},
                   "from": _user(user_id, first_name), "text": text}
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0,
                                    "length": len(command)}]
        self._user_messages.append(message)
        update_id = await self._push({"message": message})
        return {"update_id": update_id, "message_id": message["message_id"]}

    async def user_taps(self, user_id: int, message_id: int, data: str,
                        first_name: str = "Tester") -> dict[str, Any]:
        """A user taps the button carrying `data` under the bot's message `message_id`."""
        found = self._by_id.get((user_id, message_id))
        if found is None:
            raise BotApiError(400, "no such bot message in this user's chat")
        query_id = str(next(self._callback_ids))
        update_id = await self._push({"callback_query": {
            "id": query_id, "from": _user(user_id, first_name),
            "chat_instance": str(user_id), "message": found.as_message(), "data": data}})
        return {"update_id": update_id, "callback_query_id": query_id}

    async def _push(self, content: dict[str, Any]) -> int:
        update_id = next(self._update_ids)
        async with self._arrived:
            self._updates.append({"update_id": update_id, **content})
            self._arrived.notify_all()
        return update_id

    def sent(self, chat_id: int | None = None) -> list[SentMessage]:
        return [m for m in self._sent if chat_id is None or m.chat_id == chat_id]

    # --- controls --------------------------------------------------------------------------

    async def _sim_message(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        try:
            user_id = int(request.match_info["user_id"])
            text = str(body["text"])
        except (KeyError, ValueError):
            return web.json_response({"error": 'send {"text": "..."}'}, status=400)
        return web.json_response(await self.user_says(
            user_id, text, str(body.get("first_name", "Tester"))))

    async def _sim_callback(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        try:
            done = await self.user_taps(int(request.match_info["user_id"]),
                                        int(body["message_id"]), str(body["data"]))
        except (KeyError, ValueError):
            return web.json_response({"error": 'send {"message_id": n, "data": "..."}'},
                                     status=400)
        except BotApiError as error:
            return web.json_response({"error": error.description}, status=404)
        return web.json_response(done)

    async def _sim_sent(self, request: web.Request) -> web.Response:
        chat = request.query.get("chat_id")
        chat_id = int(chat) if chat and chat.lstrip("-").isdigit() else None
        return web.json_response({"messages": [m.as_json() for m in self.sent(chat_id)]})

    async def _sim_chat(self, request: web.Request) -> web.Response:
        chat_id = int(request.match_info["chat_id"])
        from_user = [m for m in self._user_messages if m["chat"]["id"] == chat_id]
        return web.json_response({
            "user_messages": [{"message_id": m["message_id"], "text": m["text"]}
                              for m in from_user],
            "bot_messages": [m.as_json() for m in self.sent(chat_id) if not m.deleted]})

    async def _sim_answers(self, _: web.Request) -> web.Response:
        return web.json_response({"answers": self.callback_answers})

    async def _sim_reset(self, _: web.Request) -> web.Response:
        self._updates.clear()
        self._sent.clear()
        self._by_id.clear()
        self._user_messages.clear()
        self.callback_answers.clear()
        return web.json_response({"reset": True})


def _failure(code: int, description: str) -> web.Response:
    return web.json_response({"ok": False, "error_code": code, "description": description},
                             status=code)



async def _parameters(request: web.Request) -> dict[str, Any]:
    """A method's parameters from the query string, a JSON body, or form fields (aiogram
    sends form fields, with objects such as reply_markup as JSON text)."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        params.update(await json_body(request))
    elif request.can_read_body:
        form = await request.post()
        params.update({name: value for name, value in form.items() if isinstance(value, str)})
    return params


async def serve(port: int, tokens: list[str]) -> None:
    """Run until cancelled (the CLI's `proxyfleet sim telegram`)."""
    async with TelegramSim(tokens, port=port) as sim:
        print(f"simulated Telegram Bot API on {sim.url} (controls at {sim.url}/_sim/)",
              flush=True)
        await asyncio.Event().wait()
