"""The 003 endpoints: sessions (create, invalidate), limits, and the follow, like and comment
actions. Any signed-in user may create sessions; a session is used by its creator and by
admins. Handlers parse, call `InstagramService` and map; the service decides."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from proxyfleet.api.auth import Caller, container
from proxyfleet.api.instagram.envelope import instagram_router
from proxyfleet.api.instagram.schemas import (
    CommentIn,
    Envelope,
    FollowIn,
    LikeIn,
    LimitOut,
    ProxyOut,
    SessionIn,
    SessionOut,
)
from proxyfleet.bootstrap import Container
from proxyfleet.core.clock import isoformat_z
from proxyfleet.core.instagram import InstagramAction, InstagramSession, QuotaView
from proxyfleet.sessions.service import ActionResult, CreatedSession, SessionRequest
from proxyfleet.storage.instagram_sessions import PinnedProxy

router = instagram_router(tags=["instagram"])
Services = Annotated[Container, Depends(container)]


def _proxy(proxy: PinnedProxy) -> ProxyOut:
    return ProxyOut(id=proxy.number, proxy_id=str(proxy.proxy_id), ip=proxy.address.host,
                    port=proxy.address.port)


def _session(session: InstagramSession, proxy: PinnedProxy) -> SessionOut:
    return SessionOut(id=session.id, username=session.username,
                      cookies=sorted(session.cookies), user_agent=session.user_agent,
                      state=session.state.value, created_at=isoformat_z(session.created_at),
                      expires_at=isoformat_z(session.expires_at), proxy=_proxy(proxy))


def _limit(view: QuotaView) -> LimitOut:
    return LimitOut(limit=view.limit, used=view.used, remaining=view.left,
                    frees_at=isoformat_z(view.frees_at) if view.frees_at else None,
                    blocked_until=isoformat_z(view.blocked_until) if view.blocked_until
                    else None)


def _done(result: ActionResult) -> Envelope:
    message = (f"Already {_PAST[result.action]}: nothing sent, no quota used."
               if result.already_done else f"{result.action.value.capitalize()} done.")
    return Envelope(data={"username": result.username, "action": result.action.value,
                          "target": result.target, "already_done": result.already_done,
                          "message": message, "proxy": _proxy(result.proxy).model_dump(),
                          "response": dict(result.instagram)})


_PAST = {InstagramAction.FOLLOW: "following this user", InstagramAction.LIKE: "liked",
         InstagramAction.COMMENT: "commented"}


@router.post("/api/instagram/session", status_code=201, response_model=Envelope)
async def create_session(caller: Caller, found: Services, body: SessionIn) -> Envelope:
    limits = body.limits.model_dump() if body.limits else {}
    created: CreatedSession = await found.instagram.create_session(caller, SessionRequest(
        username=body.username, session_id=body.session_id, cookies=body.cookies,
        user_agent=body.user_agent, proxy=body.proxy_id,
        limits={InstagramAction(name): value for name, value in limits.items()
                if value is not None}))
    return Envelope(data={"session": _session(created.session, created.proxy).model_dump()})


@router.get("/api/instagram/sessions", response_model=Envelope)
async def list_sessions(caller: Caller, found: Services) -> Envelope:
    """The sessions the caller may use (their own; an admin, every one), by username:
    `{"success": true, "data": {"sessions": [session, ...], "total": n}}`."""
    listed = await found.instagram.sessions(caller)
    return Envelope(data={"sessions": [_session(s, p).model_dump() for s, p in listed],
                          "total": len(listed)})


@router.delete("/api/instagram/session/{username}", response_model=Envelope)
async def invalidate_session(caller: Caller, found: Services, username: str) -> Envelope:
    session = await found.instagram.invalidate(caller, username)
    return Envelope(data={"username": session.username, "state": "invalidated",
                          "message": "Session invalidated."})


@router.get("/api/instagram/limits/{username}", response_model=Envelope)
async def limits(caller: Caller, found: Services, username: str) -> Envelope:
    views = await found.instagram.limits(caller, username)
    return Envelope(data={"username": username.strip().removeprefix("@").lower(),
                          "limits": {v.action.value: _limit(v).model_dump() for v in views}})


@router.post("/api/instagram/follow", response_model=Envelope)
async def follow(caller: Caller, found: Services, body: FollowIn) -> Envelope:
    return _done(await found.instagram.perform(caller, body.username, InstagramAction.FOLLOW,
                                               body.target_user_id))


@router.post("/api/instagram/like", response_model=Envelope)
async def like(caller: Caller, found: Services, body: LikeIn) -> Envelope:
    return _done(await found.instagram.perform(caller, body.username, InstagramAction.LIKE,
                                               body.media_id))


@router.post("/api/instagram/comment", response_model=Envelope)
async def comment(caller: Caller, found: Services, body: CommentIn) -> Envelope:
    return _done(await found.instagram.perform(caller, body.username,
                                               InstagramAction.COMMENT, body.media_id,
                                               body.text))
