"""The rotation snapshot's reload on a real database: it sees every change (scores, status,
counters written by a flush), remakes only the candidates whose rows changed, and the
background reloads are spaced by what the last one cost."""

from __future__ import annotations

from proxyfleet.bootstrap import Container
from proxyfleet.core.proxies import ProxyFilter
from proxyfleet.core.rotation import Want
from proxyfleet.pool.rotation import RELOAD_SPACING, RotationService
from tests.integration.pool.seeding import addresses, seed, set_fields

BEST = Want(filter=ProxyFilter(min_score=0.8))


class SteppingClock:
    """Monotonic seconds that move on by `step` at each reading."""

    def __init__(self, start: float) -> None:
        self.value, self.step = start, 0.0

    def __call__(self) -> float:
        self.value += self.step
        return self.value


async def _hosts(rotation: RotationService, want: Want, picks: int = 6) -> set[str]:
    return {pick.host for _ in range(picks) if (pick := await rotation.pick(want)) is not None}


async def test_a_reload_remakes_only_what_changed_and_sees_every_change(
        container: Container) -> None:
    proxies = addresses(5)
    await seed(container, proxies, status="active", score=0.5)
    rotation = RotationService(container.database)
    await rotation.refresh()
    assert rotation.remade == 5
    await rotation.refresh()
    assert rotation.remade == 0
    assert await _hosts(rotation, BEST) == set()

    await set_fields(container, proxies[0].host, score=0.9)
    await set_fields(container, proxies[1].host, status="dead")
    await rotation.refresh()
    assert rotation.remade == 1  # the dead one is gone, not remade
    assert await _hosts(rotation, BEST) == {proxies[0].host}
    assert await _hosts(rotation, Want(), picks=12) == {p.host for p in proxies} - {
        proxies[1].host}

    # Counters another process flushed are read back: the budget sees them.
    other = RotationService(container.database)
    await other.refresh()
    target = next(iter(await _picked_ids(other, proxies[2].host)))
    for _ in range(3):
        other.record(target, True)
    await other.flush()
    await rotation.change_settings(hourly_budget=3)  # stores, then reloads
    assert rotation.remade == 1  # the row the other process wrote to
    assert proxies[2].host not in await _hosts(rotation, Want(), picks=12)


async def _picked_ids(rotation: RotationService, host: str) -> set[object]:
    ids = set()
    for _ in range(12):
        pick = await rotation.pick(Want())
        if pick is not None and pick.host == host:
            ids.add(pick.proxy_id)
    return ids


async def test_background_reloads_wait_in_proportion_to_their_cost(
        container: Container) -> None:
    proxies = addresses(3)
    await seed(container, proxies, status="active", score=0.5)
    clock = SteppingClock(1000.0)
    rotation = RotationService(container.database, monotonic=clock)
    clock.step = 0.25  # a reload that takes a quarter of a second
    await rotation.refresh()
    clock.step = 0.0
    started = 1000.25
    await set_fields(container, proxies[0].host, score=0.9)

    clock.value = started + RELOAD_SPACING * 0.25 - 0.5
    await rotation.refresh_quietly()
    assert await _hosts(rotation, BEST) == set()  # too soon: the snapshot stands

    clock.value = started + RELOAD_SPACING * 0.25 + 0.5
    await rotation.refresh_quietly()
    assert await _hosts(rotation, BEST) == {proxies[0].host}

    # A reload asked for (after this process changed something) is never put off.
    await set_fields(container, proxies[1].host, score=0.95)
    await rotation.refresh()
    assert await _hosts(rotation, BEST, picks=12) == {proxies[0].host, proxies[1].host}
