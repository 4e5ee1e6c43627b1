"""The world of the browser tests: a real `proxyfleet serve` (checking on) on the test
database, a simulated pool of 2,000 farm proxies (alive, dead, slow, flaky, ...) imported and
checked before the first test, a second small farm published by a list server for the
source test, the IPv6 test network for instances, the simulated upstream provider the shop
sells from, the simulated Instagram, and Debian's headless Chromium driven by Playwright.
Screenshots go to tests/browser/screenshots/ (or $PROXYFLEET_SCREENSHOTS)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from proxyfleet.core.proxies import ProxyProtocol
from proxyfleet.sim.farm import Behaviour, Farm, FarmSpec
from proxyfleet.sim.instagram import SimInstagram
from proxyfleet.sim.lists import Body, ListServer
from proxyfleet.sim.upstream import UpstreamSim
from tests.conftest import _empty_tables
from tests.integration.ipv6.network import EgressNetwork, NetworkUnavailable, egress_network
from tests.integration.test_process import _cli, server_env, serving

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
POOL_SIZE = 2000
FRESH_SIZE = 12
UPSTREAM_PRODUCTS = 30
SCREENSHOTS = Path(os.environ.get("PROXYFLEET_SCREENSHOTS")
                   or Path(__file__).with_name("screenshots"))
T = TypeVar("T")


class Background:
    """An event loop in a thread, for the simulated servers while the test thread drives the
    browser synchronously."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@dataclass
class World:
    base: str
    admin_key: str
    env: dict[str, str]
    pool: Farm
    fresh: Farm
    lists: ListServer
    network: EgressNetwork
    upstream: UpstreamSim
    instagram: SimInstagram

    def http(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30)


def _import(world_base: str, key: str, farm: Farm) -> None:
    proxies = [{"ip": address.host, "port": address.port, "protocol": address.protocol.value,
                "username": address.username, "password": address.password}
               for address, _ in farm.proxies]
    with httpx.Client(base_url=world_base, timeout=60,
                      headers={"Authorization": f"Bearer {key}"}) as http:
        answer = http.post("/proxies", json={"proxies": proxies})
        assert answer.status_code == 201, answer.text
        assert answer.json()["proxies_new"] == len(proxies)


def _wait_until_checked(base: str, key: str, expected: int, limit: float = 300) -> None:
    """Until every proxy has had its first check, so the pool holds still while tested."""
    deadline = time.monotonic() + limit
    stats: dict[str, Any] = {}
    with httpx.Client(base_url=base, timeout=30,
                      headers={"Authorization": f"Bearer {key}"}) as http:
        while time.monotonic() < deadline:
            stats = http.get("/stats/pool").json()
            if (stats["total_proxies"] == expected
                    and stats["by_status"].get("unchecked", 0) == 0):
                return
            time.sleep(1)
    raise AssertionError(f"the pool was not checked in {limit} s: {stats}")


@pytest.fixture(scope="module")
def world(database_url: str, redis_url: str | None,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir = tmp_path_factory.mktemp("browser-data")
    try:
        # First: its helper waits with select(), which takes no file descriptor past 1023,
        # and the farm opens thousands.
        network_made = egress_network()
        network = network_made.__enter__()
    except NetworkUnavailable as exc:
        pytest.fail(f"cannot build the IPv6 test network (root and iproute2): {exc}")
    # Playwright's sync API runs a loop in this thread: async work goes to the background one.
    background = Background()
    pool = Farm(FarmSpec.spread(POOL_SIZE, slow_delay=0.2, io_timeout=10))
    # Not on 127.73.x.y: the upstream provider serves the proxies it sells there.
    fresh = Farm(FarmSpec(counts={(ProxyProtocol.HTTP, Behaviour.ELITE): FRESH_SIZE},
                          listen_prefix="127.85", egress_prefix="127.86", io_timeout=10))
    lists = ListServer()
    upstream = UpstreamSim(UPSTREAM_PRODUCTS, seed=18, online_fraction=1.0)
    instagram = SimInstagram()
    with contextlib.ExitStack() as stack:
        stack.callback(network_made.__exit__, None, None, None)
        stack.callback(background.close)
        background.run(_empty_tables(database_url))
        servers: tuple[Any, ...] = (pool, fresh, lists, upstream, instagram)
        for server in servers:
            background.run(server.__aenter__())
            stack.callback(lambda s=server: background.run(s.__aexit__(None, None, None)))
        lists.route("/fresh.txt", Body("".join(f"{a.netloc}\n" for a, _ in fresh.proxies)))
        # One check round per proxy while the tests run: a re-check round of the pool (its
        # dead ones come back after PROXYFLEET_RECHECK_RETRY_SECONDS) would crowd a new
        # source's proxies out of the pool's most recently checked rows.
        extra = {"PROXYFLEET_CHECKING_ENABLED": "true",
                 "PROXYFLEET_RECHECK_RETRY_SECONDS": "3600",
                 "PROXYFLEET_RECHECK_HEALTHY_SECONDS": "3600",
                 "PROXYFLEET_SCHEDULER_TICK_SECONDS": "1",
                 "PROXYFLEET_CHECK_TIMEOUT_SECONDS": "5",
                 "PROXYFLEET_IPV6_PREFIXES": json.dumps({network.root_link: str(network.prefix)}),
                 "PROXYFLEET_IPV6_MODE": "anyip",
                 "PROXYFLEET_SHOP_UPSTREAM_URL": upstream.url,
                 "PROXYFLEET_SHOP_UPSTREAM_TOKEN": upstream.token,
                 "PROXYFLEET_SHOP_UPSTREAM_TIMEOUT_SECONDS": "5",
                 "PROXYFLEET_SHOP_OWN_CHECK_TIMEOUT_SECONDS": "5",
                 "PROXYFLEET_INSTAGRAM_BASE_URL": instagram.base_url,
                 "PROXYFLEET_INSTAGRAM_BACKOFF_BASE_SECONDS": "0"}
        base, _ = stack.enter_context(serving(data_dir, database_url, redis_url, extra))
        env = server_env(data_dir, database_url, redis_url) | extra
        created = _cli("admin", "create", "admin@example.com", env=env)
        assert created.returncode == 0, created.stderr
        admin_key = created.stdout.strip()
        _import(base, admin_key, pool)
        _wait_until_checked(base, admin_key, POOL_SIZE)
        yield World(base, admin_key, env, pool, fresh, lists, network, upstream, instagram)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # Debian's Chromium, never a browser Playwright would download; a fresh profile each
        # context (Playwright's default).
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    try:
        yield opened
    finally:
        context.close()


def shot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
