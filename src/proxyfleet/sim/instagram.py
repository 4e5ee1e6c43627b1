"""A simulated Instagram on loopback: the web API paths `sessions.client.InstagramClient`
calls, with Instagram's checks and refusals, for tests, demos and benches.

Served under `/api/v1` (so `PROXYFLEET_INSTAGRAM_BASE_URL` is `http://127.0.0.1:P/api/v1`):
`GET accounts/current_user/` (the session check), `POST friendships/create/{user_id}/`,
`POST media/{media_id}/like/` and `POST media/{media_id}/comment/` (form field
`comment_text`). Every call needs a known `sessionid` cookie (else 403 `login_required`), a
User-Agent and `X-IG-App-ID`; every POST needs an `X-CSRFToken` header equal to the
`csrftoken` cookie (else 403, as Django's CSRF check answers). Following or liking twice is
answered `ok`, as Instagram does.

Controls under `/_sim/`: `POST /_sim/sessions` registers logged-in sessions
(`{"sessions": [{"username", "sessionid"}]}`); `POST /_sim/refusals` queues refusals
(`{"kind", "action"?, "username"?, "times"?, "status"?}`, kinds in `RefusalKind`),
`DELETE /_sim/refusals` drops them; `GET /_sim/actions` lists every action received (action,
target, peer address, username, user agent, outcome); `POST /_sim/reset` forgets everything.

Imports Starlette, uvicorn and the standard library.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import itertools
import json
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

API_PREFIX = "/api/v1"
WEB_APP_ID = "936619743392459"  # the X-IG-App-ID Instagram's web client sends
SHUTDOWN_GRACE_SECONDS = 2


class Action(enum.StrEnum):
    CHECK = "check"
    FOLLOW = "follow"
    LIKE = "like"
    COMMENT = "comment"


class RefusalKind(enum.StrEnum):
    FEEDBACK_REQUIRED = "feedback_required"
    PLEASE_WAIT = "please_wait"
    CHALLENGE_REQUIRED = "challenge_required"
    LOGIN_REQUIRED = "login_required"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"


PLEASE_WAIT_MESSAGE = "Please wait a few minutes before you try again."


@dataclass(slots=True)
class Refusal:
    """A refusal waiting for a matching request; `times` None refuses until cleared."""

    kind: RefusalKind
    action: Action | None = None
    username: str | None = None
    times: int | None = 1
    status: int = 500

    def matches(self, action: Action, username: str) -> bool:
        return (self.action in (None, action)) and (self.username in (None, username))


@dataclass
class InstagramWorld:
    """What the simulated Instagram knows: logged-in sessions, follows, likes, comments,
    queued refusals and the record of every action received."""

    sessions: dict[str, str] = field(default_factory=dict)  # sessionid -> username
    follows: set[tuple[str, str]] = field(default_factory=set)
    likes: set[tuple[str, str]] = field(default_factory=set)
    refusals: list[Refusal] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    comment_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def take_refusal(self, action: Action, username: str) -> Refusal | None:
        for refusal in self.refusals:
            if refusal.matches(action, username):
                if refusal.times is not None:
                    refusal.times -= 1
                    if refusal.times <= 0:
                        self.refusals.remove(refusal)
                return refusal
        return None

    def reset(self) -> None:
        self.sessions.clear()
        self.follows.clear()
        self.likes.clear()
        self.refusals.clear()
        self.actions.clear()


def user_pk(username: str) -> str:
    """A stable numeric id for a username, as Instagram's `pk`."""
    return str(int(hashlib.sha256(username.encode()).hexdigest()[:12], 16))


def _fail(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"message": message, "status": "fail", **extra}, status_code=status)


def refusal_response(refusal: Refusal) -> Response:
    """How Instagram words each refusal."""
    match refusal.kind:
        case RefusalKind.FEEDBACK_REQUIRED:
            return _fail(400, "feedback_required", spam=True, feedback_title="Try Again Later",
                         feedback_message="We restrict certain activity to protect our "
                                          "community.")
        case RefusalKind.PLEASE_WAIT:
            return _fail(400, PLEASE_WAIT_MESSAGE)
        case RefusalKind.CHALLENGE_REQUIRED:
            return _fail(400, "challenge_required",
                         challenge={"api_path": "/challenge/1/abcdef/", "lock": True})
        case RefusalKind.LOGIN_REQUIRED:
            return _fail(403, "login_required", require_login=True)
        case RefusalKind.RATE_LIMITED:
            return _fail(429, "Please wait a few minutes before you try again.")
        case RefusalKind.SERVER_ERROR:
            return PlainTextResponse("Oops, an error occurred.", status_code=refusal.status)


@dataclass(frozen=True, slots=True)
class Caller:
    username: str
    sessionid: str
    peer: str
    user_agent: str


class InstagramApp:
    """The Starlette application over one `InstagramWorld`."""

    def __init__(self, world: InstagramWorld) -> None:
        self.world = world
        api = API_PREFIX
        self.app = Starlette(routes=[
            Route(f"{api}/accounts/current_user/", self.current_user, methods=["GET"]),
            Route(f"{api}/friendships/create/{{target}}/", self.follow, methods=["POST"]),
            Route(f"{api}/media/{{target}}/like/", self.like, methods=["POST"]),
            Route(f"{api}/media/{{target}}/comment/", self.comment, methods=["POST"]),
            Route("/_sim/sessions", self.add_sessions, methods=["POST"]),
            Route("/_sim/refusals", self.add_refusal, methods=["POST"]),
            Route("/_sim/refusals", self.clear_refusals, methods=["DELETE"]),
            Route("/_sim/actions", self.list_actions, methods=["GET"]),
            Route("/_sim/reset", self.reset, methods=["POST"]),
        ])

    # --- the web API ------------------------------------------------------------------------

    async def current_user(self, request: Request) -> Response:
        caller, refused = self._admit(request, Action.CHECK, write=False)
        if refused is not None:
            return refused
        assert caller is not None
        return JSONResponse({"user": {"pk": user_pk(caller.username),
                                      "username": caller.username}, "status": "ok"})

    async def follow(self, request: Request) -> Response:
        caller, refused = self._admit(request, Action.FOLLOW)
        if refused is not None:
            return refused
        assert caller is not None
        edge = (caller.username, request.path_params["target"])
        before = edge in self.world.follows
        self.world.follows.add(edge)
        return JSONResponse({"friendship_status": {"following": True, "outgoing_request": False,
                                                   "is_private": False},
                             "previous_following": before, "status": "ok"})

    async def like(self, request: Request) -> Response:
        caller, refused = self._admit(request, Action.LIKE)
        if refused is not None:
            return refused
        assert caller is not None
        self.world.likes.add((caller.username, request.path_params["target"]))
        return JSONResponse({"status": "ok"})

    async def comment(self, request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        text = form.get("comment_text", [""])[0]
        if not text.strip():
            return _fail(400, "Comment text is empty.")
        caller, refused = self._admit(request, Action.COMMENT, text=text)
        if refused is not None:
            return refused
        assert caller is not None
        pk = str(next(self.world.comment_ids))
        return JSONResponse({"comment": {"pk": pk, "text": text, "media_id":
                                         request.path_params["target"],
                                         "user": {"username": caller.username}},
                             "status": "ok"})

    def _admit(self, request: Request, action: Action, *, write: bool = True,
               text: str | None = None) -> tuple[Caller | None, Response | None]:
        """The checks Instagram makes before it acts, in its order; the action is recorded
        with its outcome whether it was refused or not (a login failure has no caller)."""
        refused = _client_refusal(request, write)
        if refused is not None:
            return None, refused
        sessionid = request.cookies.get("sessionid", "")
        username = self.world.sessions.get(sessionid)
        if username is None:
            return None, _fail(403, "login_required", require_login=True)
        peer = request.client.host if request.client else ""
        caller = Caller(username, sessionid, peer, request.headers["user-agent"])
        refusal = self.world.take_refusal(action, username)
        if refusal is not None and refusal.kind is RefusalKind.LOGIN_REQUIRED:
            self.world.sessions.pop(sessionid, None)  # Instagram logged the session out
        self._record(caller, action, request.path_params.get("target"), text,
                     refusal.kind.value if refusal else "ok")
        return caller, (refusal_response(refusal) if refusal else None)

    def _record(self, caller: Caller, action: Action, target: str | None, text: str | None,
                outcome: str) -> None:
        entry: dict[str, Any] = {"action": action.value, "target": target, "peer": caller.peer,
                                 "username": caller.username, "user_agent": caller.user_agent,
                                 "outcome": outcome,
                                 "at": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
        if text is not None:
            entry["text"] = text
        self.world.actions.append(entry)

    # --- controls ---------------------------------------------------------------------------

    async def add_sessions(self, request: Request) -> Response:
        body = await _json(request)
        for entry in body.get("sessions", []):
            self.world.sessions[str(entry["sessionid"])] = str(entry["username"])
        return JSONResponse({"sessions": len(self.world.sessions)})

    async def add_refusal(self, request: Request) -> Response:
        body = await _json(request)
        try:
            refusal = Refusal(kind=RefusalKind(body["kind"]),
                              action=Action(body["action"]) if body.get("action") else None,
                              username=body.get("username"),
                              times=body.get("times", 1), status=int(body.get("status", 500)))
        except (KeyError, ValueError) as error:
            return JSONResponse({"error": f"bad refusal: {error}"}, status_code=400)
        self.world.refusals.append(refusal)
        return JSONResponse({"refusals": len(self.world.refusals)}, status_code=201)

    async def clear_refusals(self, _: Request) -> Response:
        self.world.refusals.clear()
        return Response(status_code=204)

    async def list_actions(self, _: Request) -> Response:
        return JSONResponse(self.world.actions)

    async def reset(self, _: Request) -> Response:
        self.world.reset()
        return Response(status_code=204)


def _client_refusal(request: Request, write: bool) -> Response | None:
    """What Instagram refuses before it looks at the session: no user agent or app id, and
    a POST whose CSRF header does not match its cookie."""
    if not request.headers.get("user-agent") or \
            request.headers.get("x-ig-app-id") != WEB_APP_ID:
        return _fail(400, "useragent mismatch")
    if write:
        token = request.cookies.get("csrftoken", "")
        if not token or request.headers.get("x-csrftoken") != token:
            return _fail(403, "CSRF token missing or incorrect")
    return None


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class SimInstagram:
    """The simulated Instagram served by uvicorn inside the caller's loop (async context
    manager); `world` is its state, `base_url` what the client's setting wants."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.world = InstagramWorld()
        self._host = host
        self._port = port
        self._server: uvicorn.Server | None = None
        self._serving: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def base_url(self) -> str:
        return self.url + API_PREFIX

    def register(self, username: str, sessionid: str) -> None:
        self.world.sessions[sessionid] = username

    async def __aenter__(self) -> Self:
        self._socket = socket.socket()
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((self._host, self._port))
        self._port = self._socket.getsockname()[1]
        # A client's kept-alive connection (one relayed by a farm proxy, say) must not hold
        # the shutdown up: whatever is still open after a moment is cut.
        config = uvicorn.Config(InstagramApp(self.world).app, log_level="warning",
                                lifespan="off", access_log=False,
                                timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS)
        self._server = uvicorn.Server(config)
        self._serving = asyncio.ensure_future(self._server.serve(sockets=[self._socket]))
        while not self._server.started:  # uvicorn offers no event to wait on
            if self._serving.done():
                await self._serving  # raises what stopped it
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            await self._serving
        if self._socket is not None:
            self._socket.close()


def serve_forever(host: str, port: int) -> None:
    """`proxyfleet sim instagram`: serve until interrupted."""
    uvicorn.run(InstagramApp(InstagramWorld()).app, host=host, port=port, log_level="warning",
                access_log=False)
