"""Quotas of Instagram actions, stored in the database and enforced atomically.

An action first takes a unit (`reserve`: one write transaction that locks the account, checks
every rule and inserts the pending action), then is sent to Instagram outside any
transaction, then is settled (`settle`): done, or refused, which frees its unit and applies
the refusal's cool-off. A limit reached is refused at once, never slept on. Repeating a like
or a follow already done takes no unit.

Imports `core`, `sessions.rules` and the storage interfaces.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from proxyfleet.core.clock import isoformat_z, utcnow
from proxyfleet.core.instagram import (
    InstagramAction,
    QuotaExceeded,
    QuotaPolicy,
    QuotaView,
    Refusal,
    Usage,
)
from proxyfleet.sessions.rules import (
    DAY,
    HOUR,
    Consequence,
    Denial,
    consequence_of,
    dedupe_key,
    deny_reason,
    next_action_at,
    quota_view,
    window_start,
)
from proxyfleet.storage.instagram import ActionState
from proxyfleet.storage.uow import Database, UnitOfWork


@dataclass(frozen=True, slots=True)
class Reservation:
    """A unit taken for one action, pending until settled."""

    action_id: int
    username: str
    action: InstagramAction
    target: str


@dataclass(frozen=True, slots=True)
class AlreadyDone:
    """The same like or follow was done before: nothing to send, no unit taken."""

    username: str
    action: InstagramAction
    target: str


class QuotaService:
    def __init__(self, database: Database, policy: QuotaPolicy, *,
                 clock: Callable[[], datetime] = utcnow,
                 uniform: Callable[[float, float], float] = random.uniform) -> None:
        self._database = database
        self.policy = policy
        self._clock = clock
        self._uniform = uniform

    async def ensure_account(self, username: str,
                             overrides: Mapping[InstagramAction, int | None]) -> None:
        async with self._database.writing() as uow:
            await uow.instagram.ensure_account(username, self._clock())
            await uow.instagram.set_overrides(username, overrides)
            await uow.commit()

    async def reserve(self, username: str, action: InstagramAction, target: str,
                      proxy_id: uuid.UUID | None = None) -> Reservation | AlreadyDone:
        """Take one unit for the action, or raise `QuotaExceeded` saying when one frees."""
        now = self._clock()
        async with self._database.writing() as uow:
            state = await uow.instagram.account(username, lock=True)
            if state is None:  # sessions make their account; a bare reserve makes it here
                await uow.instagram.ensure_account(username, now)
                state = await uow.instagram.account(username, lock=True)
                assert state is not None
            dedupe = dedupe_key(action, target)
            if dedupe is not None:
                earlier = await uow.instagram.same_action(username, action, dedupe)
                if earlier is ActionState.DONE:
                    return AlreadyDone(username, action, target)
                if earlier is ActionState.PENDING:
                    raise QuotaExceeded("The same action is already under way for this "
                                        "account.", {"action": action.value,
                                                     "reason": "in_progress"})
            denial = deny_reason(action, self.policy, state,
                                 await uow.instagram.usage(username, action,
                                                           window_start(now, DAY)),
                                 await self._hour_usage(uow, username, action, now), now)
            if denial is not None:
                raise _exceeded(action, denial)
            action_id = await uow.instagram.reserve(username, action, target, dedupe,
                                                    proxy_id, now)
            gap_end = next_action_at(self.policy, now, self._uniform)
            if gap_end is not None:
                await uow.instagram.set_next_action_at(username, gap_end)
            await uow.commit()
        return Reservation(action_id, username, action, target)

    async def _hour_usage(self, uow: UnitOfWork, username: str, action: InstagramAction,
                          now: datetime) -> Usage:
        if self.policy.per_hour.get(action) is None:
            return Usage()  # no hourly cap: nothing to count
        return await uow.instagram.usage(username, action, window_start(now, HOUR))

    async def settle(self, reservation: Reservation, refusal: Refusal | None) -> Consequence:
        """Record Instagram's answer: done keeps the unit; a refusal frees it and applies
        its cool-off to the account. Returns what the refusal does to the session too."""
        if refusal is None:  # the common case: one statement, its own transaction
            async with self._database.writing_statements() as uow:
                await uow.instagram.mark_done(reservation.action_id)
                await uow.commit()
            return Consequence()
        async with self._database.writing() as uow:
            consequence = await self.refuse(uow, reservation, refusal)
            await uow.commit()
        return consequence

    async def refuse(self, uow: UnitOfWork, reservation: Reservation,
                     refusal: Refusal) -> Consequence:
        """`settle` for a refusal, inside the caller's unit of work (which commits it with
        whatever else the refusal changes)."""
        consequence = consequence_of(refusal, self.policy, self._clock())
        await uow.instagram.mark_refused(reservation.action_id, refusal)
        if consequence.action_blocked_until is not None:
            await uow.instagram.block(reservation.username, reservation.action,
                                      consequence.action_blocked_until)
        if consequence.writes_blocked_until is not None:
            await uow.instagram.block(reservation.username, None,
                                      consequence.writes_blocked_until)
        return consequence

    async def limits(self, username: str) -> list[QuotaView]:
        now = self._clock()
        async with self._database.reading() as uow:
            state = await uow.instagram.account(username)
            if state is None:
                return []
            return [quota_view(action, self.policy.daily_limit(action, state.overrides),
                               await uow.instagram.usage(username, action,
                                                         window_start(now, DAY)), now, state)
                    for action in InstagramAction]

    async def forget_old(self) -> int:
        """Drop actions that no longer count nor guard a target (older than the window)."""
        async with self._database.writing() as uow:
            dropped = await uow.instagram.forget_before(window_start(self._clock(), DAY))
            await uow.commit()
        return dropped


def _exceeded(action: InstagramAction, denial: Denial) -> QuotaExceeded:
    return QuotaExceeded(denial.message, {
        "action": action.value, "reason": denial.reason,
        "retry_at": isoformat_z(denial.retry_at) if denial.retry_at else None})
