"""Instagram sessions and their actions (seed 003): the use cases behind `/api/instagram`.

A session is a row of the platform's one session table, pinned to one proxy chosen by the
shared rotation service (sticky per account; the manager's private proxies, the shared pool
only when the settings allow it; at most `accounts_per_proxy` accounts on one proxy). An
action checks the session (owner or admin, active, not expired), makes sure its proxy still
lives (moving the session only when its proxy died or became a suspect), takes a unit of
quota, goes to Instagram through the proxy, counts in the proxy's counters, and settles the
unit with Instagram's answer; refusals cool the account off, stop or invalidate the session,
and several accounts blocked through one proxy make the proxy a suspect.

Imports `core`, the session rules, the client, the quotas and the storage interfaces; the
rotation service comes in through `ProxyPicker`.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from proxyfleet.core.accounts import Principal
from proxyfleet.core.clock import utcnow
from proxyfleet.core.errors import Forbidden, InvalidInput
from proxyfleet.core.instagram import (
    InstagramAction,
    InstagramRefused,
    InstagramSession,
    InvalidSession,
    NoProxyForSession,
    QuotaView,
    Refusal,
    SessionState,
)
from proxyfleet.core.proxies import ProxyStatus
from proxyfleet.core.rotation import Pick, Want
from proxyfleet.sessions.client import (
    CSRF_COOKIE,
    HTTP_PROXIES,
    SESSION_COOKIE,
    Identity,
    InstagramClient,
    Outcome,
    action_call,
)
from proxyfleet.sessions.quotas import AlreadyDone, QuotaService, Reservation
from proxyfleet.sessions.rules import (
    BlockedAction,
    action_blocked,
    expires_at,
    proxy_suspect,
    state_after,
)
from proxyfleet.storage.instagram_sessions import NewSession, PinnedProxy, SessionTaken
from proxyfleet.storage.uow import Database, UnitOfWork

log = structlog.get_logger(__name__)

PIN_ATTEMPTS = 5


class ProxyPicker(Protocol):
    """What sessions need of the rotation service (`pool.rotation.RotationService`)."""

    async def pick(self, want: Want) -> Pick | None: ...

    def record(self, proxy_id: uuid.UUID, ok: bool) -> None: ...

    def release(self, proxy_id: uuid.UUID) -> None: ...


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    expiry_hours: float = 24.0
    accounts_per_proxy: int = 3
    shared_proxies: bool = False
    suspect_accounts: int = 2
    suspect_window: timedelta = timedelta(hours=1)


ProxyRef = int | uuid.UUID  # a manager proxy's integer id, or any proxy's UUID


@dataclass(frozen=True, slots=True)
class SessionRequest:
    username: str
    session_id: str
    cookies: Mapping[str, str]
    user_agent: str
    proxy: ProxyRef | None = None
    limits: Mapping[InstagramAction, int | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CreatedSession:
    session: InstagramSession
    proxy: PinnedProxy


@dataclass(frozen=True, slots=True)
class ActionResult:
    username: str
    action: InstagramAction
    target: str
    already_done: bool
    proxy: PinnedProxy
    instagram: Mapping[str, Any] = field(default_factory=dict)


def canonical_username(username: str) -> str:
    return username.strip().removeprefix("@").lower()


def may_act(caller: Principal, session: InstagramSession) -> bool:
    return caller.is_admin or session.owner_id == caller.user.id


class InstagramService:
    def __init__(self, database: Database, quotas: QuotaService, client: InstagramClient,
                 rotation: ProxyPicker, policy: SessionPolicy, *,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._database = database
        self.quotas = quotas
        self._client = client
        self._rotation = rotation
        self.policy = policy
        self._clock = clock

    # --- sessions ---------------------------------------------------------------------------

    async def create_session(self, caller: Principal, request: SessionRequest) -> CreatedSession:
        """A new session for the account, or a new login replacing its session (same row,
        same quotas, same proxy unless `proxy` names another). A `sessionid` cookie bound
        to a proxy on the manager (`POST /api/proxies`) is that row, taken over for the
        account: on its proxy unless `proxy` names another."""
        username = canonical_username(request.username)
        cookies = dict(request.cookies)
        cookie = cookies.setdefault(SESSION_COOKIE, request.session_id)
        # Django's CSRF check compares the header with the cookie; a fresh token is valid.
        cookies.setdefault(CSRF_COOKIE, secrets.token_urlsafe(24))
        now = self._clock()
        try:
            async with self._database.writing() as uow:
                existing = await uow.instagram_sessions.by_username(username, lock=True)
                if existing is not None and not may_act(caller, existing):
                    raise Forbidden("Another user's session holds this account.")
                bound = None if existing is not None else \
                    await uow.instagram_sessions.unclaimed(cookie)
                proxy = await self._proxy_for(uow, request.proxy, username, existing, bound)
                new = NewSession(username, cookie, cookies, request.user_agent,
                                 proxy.proxy_id, existing.owner_id if existing else
                                 caller.user.id, now,
                                 expires_at(now, self.policy.expiry_hours))
                await self._keep(uow, existing.id if existing else
                                 bound[0] if bound else None, new)
                await uow.instagram.ensure_account(username, now)
                await uow.instagram.set_overrides(username, request.limits)
                await uow.commit()
        except SessionTaken:
            raise InvalidInput("This session is bound to another account already.",
                               {"fields": [{"field": "session_id",
                                            "message": "already bound to another session"}]}
                               ) from None
        session = await self._session(username)
        assert session is not None
        return CreatedSession(session, proxy)

    async def _keep(self, uow: UnitOfWork, row: int | None, new: NewSession) -> None:
        """Write the session into its row (the account's, or the manager's session of this
        cookie), or a new one."""
        holder = await uow.instagram_sessions.cookie_owner(new.cookie)
        if holder is not None and holder != row:
            raise SessionTaken(new.username)
        if row is None:
            await uow.instagram_sessions.add(new)
        else:
            await uow.instagram_sessions.replace(row, new)

    async def invalidate(self, caller: Principal, username: str) -> InstagramSession:
        session = await self._owned(caller, username)
        async with self._database.writing() as uow:
            await uow.instagram_sessions.set_state(session.id, SessionState.INVALIDATED,
                                                   self._clock())
            await uow.commit()
        return session

    async def sessions(self, caller: Principal) -> list[tuple[InstagramSession, PinnedProxy]]:
        """The sessions the caller may use, with their proxies: their own, or every one for
        an admin."""
        async with self._database.reading() as uow:
            return await uow.instagram_sessions.listed(
                None if caller.is_admin else caller.user.id)

    async def limits(self, caller: Principal, username: str) -> list[QuotaView]:
        session = await self._owned(caller, username)
        return await self.quotas.limits(session.username)

    async def cleanup(self) -> int:
        """Remove expired sessions and the actions that no longer count."""
        async with self._database.writing() as uow:
            removed = await uow.instagram_sessions.remove_expired(self._clock())
            await uow.commit()
        await self.quotas.forget_old()
        return removed

    async def _session(self, username: str) -> InstagramSession | None:
        async with self._database.reading() as uow:
            return await uow.instagram_sessions.by_username(username)

    async def _owned(self, caller: Principal, username: str) -> InstagramSession:
        return self._allowed(caller, username,
                             await self._session(canonical_username(username)))

    @staticmethod
    def _allowed(caller: Principal, username: str,
                 session: InstagramSession | None) -> InstagramSession:
        if session is None:
            raise InvalidSession("No session for this account.", {"username": username})
        if not may_act(caller, session):
            raise Forbidden("Only the user who created this session, or an admin, may use it.")
        return session

    async def _usable(self, caller: Principal, username: str
                      ) -> tuple[InstagramSession, PinnedProxy | None, bool]:
        """The session if the caller may act with it now, with its pinned proxy and whether
        that proxy is a suspect (one read)."""
        async with self._database.reading() as uow:
            found = await uow.instagram_sessions.by_username(canonical_username(username))
            pinned = suspect = None
            if found is not None:
                pinned = await uow.instagram_sessions.proxy(found.proxy_id)
                suspect = await uow.instagram_sessions.is_suspect(found.proxy_id)
        session = self._allowed(caller, username, found)
        if session.state is not SessionState.ACTIVE:
            raise InvalidSession(_STATE_MESSAGES[session.state],
                                 {"username": session.username, "state": session.state.value})
        if session.expired(self._clock()):
            raise InvalidSession("The session has expired; create a new one.",
                                 {"username": session.username, "state": "expired"})
        return session, pinned, bool(suspect)

    # --- actions ----------------------------------------------------------------------------

    async def perform(self, caller: Principal, username: str, action: InstagramAction,
                      target: str, text: str | None = None) -> ActionResult:
        session, pinned, suspect = await self._usable(caller, username)
        proxy, picked = await self._egress(session, pinned, suspect)
        taken: Reservation | AlreadyDone | None = None
        try:
            taken = await self.quotas.reserve(session.username, action, target, proxy.proxy_id)
        finally:
            if picked and not isinstance(taken, Reservation):  # over quota, or done already:
                self._rotation.release(proxy.proxy_id)  # the proxy is not used
        if isinstance(taken, AlreadyDone):
            return ActionResult(session.username, action, target, True, proxy)
        outcome = await self._send(session, proxy, taken, text)
        if outcome.refusal is not None:
            raise _refused(outcome)
        return ActionResult(session.username, action, target, False, proxy, outcome.body)

    async def _send(self, session: InstagramSession, proxy: PinnedProxy,
                    taken: Reservation, text: str | None) -> Outcome:
        who = Identity(session.cookies, session.user_agent, proxy.address)
        try:
            outcome = await self._client.send(who, action_call(taken.action, taken.target, text))
        except BaseException:
            await self.quotas.settle(taken, Refusal.UNREACHABLE)  # never leave a unit taken
            raise
        self._rotation.record(proxy.proxy_id, ok=outcome.refusal is not Refusal.UNREACHABLE)
        if outcome.refusal is None:
            await self.quotas.settle(taken, None)
            return outcome
        await self._refused(session, proxy, taken, outcome.refusal)
        if outcome.refusal.blocks_account:
            await self._judge_proxy(proxy)
        return outcome

    async def _refused(self, session: InstagramSession, proxy: PinnedProxy,
                       taken: Reservation, refusal: Refusal) -> None:
        """Instagram's refusal, in one transaction: the unit freed, the cool-off, the
        session stopped or invalidated, and `instagram.action_blocked` reported."""
        async with self._database.writing() as uow:
            consequence = await self.quotas.refuse(uow, taken, refusal)
            state = state_after(consequence)
            if state is not None:
                await uow.instagram_sessions.set_state(session.id, state, self._clock())
            event = action_blocked(BlockedAction(session.username, taken.action, taken.target,
                                                 refusal, proxy.proxy_id, proxy.number),
                                   consequence)
            if event is not None:
                uow.events.add(event)
            await uow.commit()
        if state is not None:
            log.warning("instagram session stopped", username=session.username,
                        state=state.value)

    async def _judge_proxy(self, proxy: PinnedProxy) -> None:
        """Several accounts blocked through one proxy within the window: the proxy, not
        the accounts, is the likely cause. It is disabled for sessions and reported
        (`instagram.proxy_suspect`, once: only one process's mark lands)."""
        now, window = self._clock(), self.policy.suspect_window
        async with self._database.writing() as uow:
            blocked = await uow.instagram.accounts_blocked_through(proxy.proxy_id, now - window)
            if len(blocked) < self.policy.suspect_accounts:
                return
            marked = await uow.instagram_sessions.mark_suspect(proxy.proxy_id, len(blocked),
                                                               now)
            if marked:
                uow.events.add(proxy_suspect(proxy.proxy_id, proxy.number, blocked, window,
                                             now))
            await uow.commit()
        if marked:
            log.warning("proxy disabled for instagram sessions: accounts blocked through it",
                        proxy_id=str(proxy.proxy_id), proxy=proxy.address.netloc,
                        blocked_accounts=len(blocked))

    # --- proxies ----------------------------------------------------------------------------

    async def _egress(self, session: InstagramSession, pinned: PinnedProxy | None,
                      suspect: bool) -> tuple[PinnedProxy, bool]:
        """The session's proxy, or a new one when it died, was disabled or became a
        suspect, and whether a pick was counted for it (to give back if the action goes
        no further). A proxy alive but resting (cooling off, over its hourly budget) is
        waited for, never left: the account keeps its address."""
        if pinned is not None and not suspect and pinned.alive:
            if await self._rotation.pick(self._want(session.username,
                                                    frozenset({pinned.proxy_id}))):
                return pinned, True
            raise NoProxyForSession("The session's proxy is resting (cooling off or over "
                                    "its hourly budget); try again later.",
                                    {"proxy_id": str(pinned.proxy_id)})
        if pinned is not None and not suspect and _unchecked_but_usable(pinned):
            return pinned, False
        return await self._move(session), False

    async def _move(self, session: InstagramSession) -> PinnedProxy:
        async with self._database.writing() as uow:
            locked = await uow.instagram_sessions.by_username(session.username, lock=True)
            if locked is None or locked.state is not SessionState.ACTIVE:
                raise InvalidSession("The session is no longer usable.",
                                     {"username": session.username})
            proxy = await self._pin(uow, session.username, avoid={session.proxy_id})
            await uow.instagram_sessions.move(session.id, proxy.proxy_id, self._clock())
            await uow.commit()
        log.info("instagram session moved to another proxy", username=session.username,
                 proxy_id=str(proxy.proxy_id))
        return proxy

    async def _proxy_for(self, uow: UnitOfWork, ref: ProxyRef | None, username: str,
                         existing: InstagramSession | None,
                         bound: tuple[int, uuid.UUID] | None) -> PinnedProxy:
        if ref is None and bound is not None:  # the manager bound the cookie to its proxy
            ref = bound[1]
        if ref is not None:
            return await self._given(uow, ref, existing)
        if existing is not None:
            pinned = await uow.instagram_sessions.proxy(existing.proxy_id)
            if pinned is not None:
                return pinned
        return await self._pin(uow, username, avoid=set())

    async def _given(self, uow: UnitOfWork, ref: ProxyRef,
                     existing: InstagramSession | None) -> PinnedProxy:
        proxy = await (uow.instagram_sessions.proxy_by_number(ref) if isinstance(ref, int)
                       else uow.instagram_sessions.proxy(ref))
        if proxy is None:
            raise InvalidInput("No such proxy.", _field("proxy_id", "no such proxy"))
        if proxy.address.protocol not in HTTP_PROXIES:
            raise InvalidInput("Sessions go out through HTTP proxies only.",
                               _field("proxy_id", f"a {proxy.address.protocol} proxy"))
        held = (await uow.instagram_sessions.sessions_per_proxy([proxy.proxy_id])).get(
            proxy.proxy_id, 0)
        if existing is not None and existing.proxy_id == proxy.proxy_id:
            held -= 1
        if held >= self.policy.accounts_per_proxy:
            raise InvalidInput("That proxy carries as many accounts as it may.",
                               _field("proxy_id", f"already has {held} accounts"))
        return proxy

    async def _pin(self, uow: UnitOfWork, username: str, avoid: set[uuid.UUID]) -> PinnedProxy:
        """A proxy with room for one more account, chosen by the rotation service."""
        kinds = (False, True) if self.policy.shared_proxies else (False,)
        for _ in range(PIN_ATTEMPTS):
            held = await uow.instagram_sessions.sessions_per_proxy()
            for shared in kinds:
                room = frozenset(
                    p for p in await uow.instagram_sessions.pinnable(shared=shared)
                    if held.get(p, 0) < self.policy.accounts_per_proxy and p not in avoid)
                if not room:
                    continue
                pick = await self._rotation.pick(self._want(username, room, counts=False))
                if pick is None:
                    continue
                proxy = await uow.instagram_sessions.proxy(pick.proxy_id, lock=True)
                if proxy is not None and await self._has_room(uow, proxy):
                    return proxy
                avoid.add(pick.proxy_id)  # filled up meanwhile
        raise NoProxyForSession("No proxy is free for this account: every usable proxy "
                                "carries its most accounts, or none is alive.")

    async def _has_room(self, uow: UnitOfWork, proxy: PinnedProxy) -> bool:
        held = await uow.instagram_sessions.sessions_per_proxy([proxy.proxy_id])
        return held.get(proxy.proxy_id, 0) < self.policy.accounts_per_proxy

    def _want(self, username: str, among: frozenset[uuid.UUID], *,
              counts: bool = True) -> Want:
        return Want(key=f"instagram:{username}", among=among, include_private=True,
                    counts=counts)


def _unchecked_but_usable(proxy: PinnedProxy) -> bool:
    """A proxy given by hand before its first check: used until a check finds it dead."""
    return proxy.status is ProxyStatus.UNCHECKED and proxy.enabled


def _field(name: str, message: str) -> dict[str, Any]:
    return {"fields": [{"field": name, "message": message}]}


def _refused(outcome: Outcome) -> InstagramRefused:
    assert outcome.refusal is not None
    return InstagramRefused(
        f"Instagram refused the action: {outcome.message}",
        {"reason": outcome.refusal.value, "status": outcome.status,
         "attempts": outcome.attempts})


_STATE_MESSAGES = {
    SessionState.CHALLENGE: "Instagram asked this account to pass a challenge; a person must "
                            "solve it, then create the session again.",
    SessionState.INVALIDATED: "The session was invalidated; create a new one.",
}
