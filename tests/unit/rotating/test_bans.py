"""Ban rules in memory: a status in the set bans the proxy for that domain only, until the
cool-off ends; bans stored by other processes merge in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from proxyfleet.core.gateway import Ban
from proxyfleet.rotating.bans import BanList

P1, P2 = uuid.uuid4(), uuid.uuid4()
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_a_ban_holds_for_its_domain_until_the_cool_off_ends() -> None:
    now = [T0]
    bans = BanList({403, 429}, 600, clock=lambda: now[0])
    assert bans.matches(403) and bans.matches(429) and not bans.matches(404)
    bans.ban(P1, "shop.example", 403)
    assert bans.excluded("shop.example") == {P1}
    assert bans.excluded("other.example") == frozenset()
    now[0] = T0 + timedelta(seconds=599)
    assert bans.excluded("shop.example") == {P1}
    now[0] = T0 + timedelta(seconds=600)
    assert bans.excluded("shop.example") == frozenset()


def test_unsaved_bans_are_handed_over_once_and_merged_back() -> None:
    now = [T0]
    bans = BanList({429}, 60, clock=lambda: now[0])
    made = bans.ban(P1, "a.example", 429)
    assert bans.unsaved() == [made]
    assert bans.unsaved() == []
    bans.restore([made])
    assert bans.unsaved() == [made]
    elsewhere = Ban(P2, "a.example", 403, T0, T0 + timedelta(hours=1))
    expired = Ban(P2, "b.example", 403, T0 - timedelta(hours=2), T0 - timedelta(hours=1))
    bans.merge([elsewhere, expired])
    assert bans.excluded("a.example") == {P1, P2}
    assert bans.excluded("b.example") == frozenset()
