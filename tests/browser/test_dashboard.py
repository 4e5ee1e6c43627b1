"""The dashboard in a real headless Chromium against a running proxyfleet with a simulated
pool: what a person signing in sees and does, page by page."""

from __future__ import annotations

import ipaddress
import re
import time
import uuid

import httpx
import pytest
from playwright.sync_api import Page, Request, expect

from proxyfleet.core.proxies import ProxyProtocol
from proxyfleet.settings import Settings
from proxyfleet.sim.farm import Behaviour
from proxyfleet.sim.lists import Failing
from tests.browser.conftest import FRESH_SIZE, POOL_SIZE, UPSTREAM_PRODUCTS, World, shot

# The server runs with the default: a source pauses itself after this many failed runs.
SOURCE_FAILURE_LIMIT = Settings.model_fields["source_failure_limit"].default

pytestmark = pytest.mark.slow


def sign_in(page: Page, world: World, key: str) -> None:
    page.goto(world.base + "/")
    page.fill("[data-test=key]", key)
    page.click("[data-test=sign-in-button]")
    expect(page.locator("[data-test=who]")).to_be_visible()


def loaded(page: Page) -> tuple[int, int]:
    text = page.locator("[data-test=loaded]").inner_text()
    found = re.fullmatch(r"(\d+) of (\d+) loaded", text.strip())
    assert found, text
    return int(found[1]), int(found[2])


def test_a_wrong_key_is_refused_in_the_apis_words(page: Page, world: World) -> None:
    wrong = "pp_" + "x" * 48
    with world.http(wrong) as http:
        refusal = http.get("/account").json()["error"]
    page.goto(world.base + "/")
    page.fill("[data-test=key]", wrong)
    page.click("[data-test=sign-in-button]")
    error = page.locator("[data-test=error]")
    expect(error).to_contain_text(refusal["code"])
    expect(error).to_contain_text(refusal["message"])
    expect(page.locator("[data-test=who]")).to_have_count(0)
    assert page.evaluate("sessionStorage.length") == 0
    shot(page, "sign-in-refused")


def test_the_key_stays_in_the_tab_session_never_in_a_url(page: Page, world: World) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    sign_in(page, world, world.admin_key)
    expect(page.locator("[data-test=who]")).to_contain_text("admin@example.com (admin)")
    assert page.evaluate("sessionStorage.getItem('proxyfleet.apiKey')") == world.admin_key
    assert page.evaluate("localStorage.length") == 0
    page.reload()
    expect(page.locator("[data-test=who]")).to_be_visible()  # the tab's session goes on
    assert requested
    assert all(world.admin_key not in url for url in requested)
    assert all(url.startswith(world.base) for url in requested), requested  # nothing from a CDN
    page.click("[data-test=sign-out]")
    expect(page.locator("[data-test=key]")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_the_pool_shows_filters_and_pages_through_every_row(page: Page, world: World) -> None:
    sign_in(page, world, world.admin_key)
    rows = page.locator("[data-test=row]")
    expect(rows.first).to_be_visible()
    expect(page.locator("[data-test=stat-total]")).to_have_text(str(POOL_SIZE))
    assert loaded(page) == (200, POOL_SIZE)
    with world.http(world.admin_key) as http:
        best = http.get("/proxies", params={"limit": 1}).json()["items"][0]
        socks5 = http.get("/proxies", params={"protocol": "socks5", "limit": 1}).json()
        alive = http.get("/proxies", params={"status": "active", "limit": 1}).json()
    first = rows.first
    expect(first).to_contain_text(f"{best['ip']}:{best['port']}")
    shot(page, "pool")

    page.select_option("[data-test=f-protocol]", "socks5")
    page.click("[data-test=apply]")
    expect(page.locator("[data-test=loaded]")).to_contain_text(f"of {socks5['total_count']} loaded")
    for row in rows.all():
        assert " socks5 " in f" {row.inner_text()} ".replace("\t", " ").replace("\n", " ")

    page.select_option("[data-test=f-protocol]", "")
    page.select_option("[data-test=f-status]", "active")
    page.click("[data-test=apply]")
    expect(page.locator("[data-test=loaded]")).to_contain_text(f"of {alive['total_count']} loaded")
    statuses = set(page.locator("[data-test=status]").all_inner_texts())
    assert statuses == {"active"}

    # Every page of the unfiltered pool, by scrolling: server-side pages of 200 land in a
    # list that keeps only the visible rows in the page.
    page.select_option("[data-test=f-status]", "")
    page.click("[data-test=apply]")
    expect(page.locator("[data-test=loaded]")).to_have_text(f"200 of {POOL_SIZE} loaded")
    listing = page.locator("[data-test=vlist]")
    for pages in range(2, POOL_SIZE // 200 + 1):
        listing.evaluate("el => { el.scrollTop = el.scrollHeight }")
        expect(page.locator("[data-test=loaded]")).to_have_text(
            f"{pages * 200} of {POOL_SIZE} loaded")
    expect(page.locator("[data-test=more]")).to_be_disabled()
    listing.evaluate("el => { el.scrollTop = el.scrollHeight }")
    expect(rows.last).to_have_attribute("data-index", str(POOL_SIZE - 1))
    assert rows.count() < 60
    shown = page.locator("[data-test=row] [data-proxy]")
    assert len({row.get_attribute("data-proxy") for row in shown.all()}) == rows.count()


def test_a_proxy_opens_with_its_check_history(page: Page, world: World) -> None:
    sign_in(page, world, world.admin_key)
    first = page.locator("[data-test=row] [data-proxy]").first
    address = first.get_attribute("data-proxy")
    first.click()
    detail = page.locator("[data-test=detail]")
    expect(detail).to_contain_text(f"Proxy {address}")
    with world.http(world.admin_key) as http:
        host, port = str(address).rsplit(":", 1)
        listed = http.get("/proxies", params={"limit": 1}).json()["items"][0]
        assert (listed["ip"], str(listed["port"])) == (host, port)
        checks = http.get(f"/proxies/{listed['id']}").json()["recent_checks"]
    assert checks
    expect(page.locator("[data-test=checks] tr")).to_have_count(len(checks) + 1)
    rounds = {check["created_at"] for check in checks}
    expect(page.locator("[data-test=heartbeat] span")).to_have_count(min(len(rounds), 40))
    expect(page.locator("[data-test=row-beats]").first.locator("span")).to_have_count(
        min(len(rounds), 12))
    expect(detail).to_contain_text(checks[0]["checker_name"])
    shot(page, "proxy-detail")


def test_a_new_source_is_scraped_and_its_proxies_appear(page: Page, world: World) -> None:
    url = world.lists.url("/fresh.txt")
    sign_in(page, world, world.admin_key)
    page.click("[data-test=nav-sources]")
    scrapes: list[str] = []

    def note_scrape(request: Request) -> None:
        if request.url.endswith("/scrape"):
            scrapes.append(request.url)

    page.on("request", note_scrape)
    page.fill("[data-test=source-url]", url)
    page.click("[data-test=source-add]")
    row = page.locator(f"[data-source='{url}']")
    expect(row).to_be_visible()
    # The server scrapes a new source once, at once: its first run found every proxy of the
    # list, all of them new (a second scrape racing it would leave fewer new).
    expect(row.locator("[data-test=yield]")).to_have_text(f"{FRESH_SIZE} / {FRESH_SIZE}")
    expect(row.locator("[data-test=alive]")).to_contain_text(f"of {FRESH_SIZE}")
    expect(row).to_contain_text("plaintext")
    expect(row.locator("[data-test=paused-by-itself]")).to_have_count(0)
    assert scrapes == [], "the page scraped a source the server had queued already"
    shot(page, "sources")

    page.click("[data-test=nav-pool]")
    expect(page.locator("[data-test=stat-total]")).to_have_text(str(POOL_SIZE + FRESH_SIZE))
    # The pool's rows: a new proxy is either not checked yet (first when the last check is
    # sorted ascending: never is oldest) or just checked (first when sorted descending).
    fresh = [a.netloc for a, _ in world.fresh.proxies]
    any_fresh = page.locator(", ".join(f"[data-proxy='{a}']" for a in fresh))
    page.select_option("[data-test=f-sort]", "last_checked")
    for attempt in range(30):
        order = "asc" if attempt % 2 else "desc"
        page.select_option("[data-test=f-order]", order)
        wanted = f"sort=last_checked&order={order}"
        with page.expect_response(lambda r, w=wanted: w in r.url and "cursor" not in r.url):
            page.click("[data-test=apply]")
        expect(page.locator("[data-test=loading]")).to_have_count(0)
        if any_fresh.count():
            break
    expect(any_fresh.first).to_be_visible()
    expect(page.locator("[data-test=loaded]")).to_contain_text(
        f"of {POOL_SIZE + FRESH_SIZE} loaded", timeout=20_000)


def test_a_failing_source_pauses_itself_and_says_so(page: Page, world: World) -> None:
    path = f"/down-{uuid.uuid4().hex[:8]}.txt"
    world.lists.route(path, Failing())
    url = world.lists.url(path)
    sign_in(page, world, world.admin_key)
    page.click("[data-test=nav-sources]")
    page.fill("[data-test=source-url]", url)
    page.select_option("[data-test=source-parser]", "plaintext")
    page.click("[data-test=source-add]")
    row = page.locator(f"[data-source='{url}']")
    # The queued first run fails: the row shows it, with no yield.
    expect(row.locator("[data-test=failures]")).to_have_text("1")
    expect(row.locator("[data-test=yield]")).to_have_text("no run yet")
    for failures in range(2, SOURCE_FAILURE_LIMIT + 1):
        row.locator("[data-test=scrape]").click()
        expect(row.locator("[data-test=failures]")).to_have_text(str(failures))
    expect(row.locator("[data-test=paused-by-itself]")).to_have_text("paused by itself")
    expect(row.locator("[data-test=state]")).to_contain_text("paused")
    with world.http(world.admin_key) as http:
        source = next(s for s in http.get("/stats/sources").json()["items"] if s["url"] == url)
    assert source["paused_by_itself"] and not source["is_active"]

    row.locator("[data-test=toggle]").click()
    expect(row.locator("[data-test=paused-by-itself]")).to_have_count(0)
    expect(row.locator("[data-test=state]")).to_have_text("active")


def test_a_user_acquires_and_releases_a_lease(page: Page, world: World) -> None:
    with world.http() as http:
        registered = http.post("/auth/register",
                               json={"email": f"lease-{uuid.uuid4().hex[:8]}@example.com"}).json()
    key = registered["api_key"]["key"]
    sign_in(page, world, key)
    for admin_only in ("sources", "manager", "ipv6"):
        expect(page.locator(f"[data-test=nav-{admin_only}]")).to_have_count(0)
    page.click("[data-test=nav-leases]")
    expect(page.locator("[data-test=balance]")).to_have_text("0")
    page.click("[data-test=acquire]")
    with world.http(key) as http:
        refusal = http.post("/proxies/acquire", json={}).json()["error"]
    expect(page.locator("[data-test=error]")).to_contain_text(refusal["message"])

    with world.http(world.admin_key) as http:
        granted = http.post(f"/admin/users/{registered['user']['id']}/grants",
                            json={"currency": "credits", "amount": 3})
        assert granted.status_code == 201, granted.text
    page.click("[data-test=acquire]")
    expect(page.locator("[data-test=acquired]")).to_contain_text("2 credits left")
    expect(page.locator("[data-test=leases] [data-test=release]")).to_have_count(1)
    expect(page.locator("[data-test=balance]")).to_have_text("2")
    with world.http(key) as http:
        live = http.get("/account/leases").json()["items"]
    assert len(live) == 1
    expect(page.locator(f"[data-lease='{live[0]['lease_id']}']")).to_contain_text(
        f"{live[0]['proxy']['ip']}:{live[0]['proxy']['port']}")
    shot(page, "leases")

    page.click("[data-test=release]")
    expect(page.locator("[data-test=leases] [data-test=release]")).to_have_count(0)
    with world.http(key) as http:
        assert http.get("/account/leases").json()["items"] == []
    expect(page.locator("[data-test=transactions]")).to_contain_text("acquire")

    # Live: a lease taken by another client of the same account shows up by itself.
    with world.http(key) as http:
        other = http.post("/proxies/acquire", json={"protocol": "socks5"}).json()
    row = page.locator(f"[data-lease='{other['lease_id']}']")
    expect(row).to_contain_text(f"{other['proxy']['ip']}:{other['proxy']['port']}", timeout=20_000)
    expect(page.locator("[data-test=balance]")).to_have_text("1", timeout=20_000)
    row.locator("[data-test=release]").click()
    expect(row).to_have_count(0)


def test_ipv6_instances_are_created_and_deleted(page: Page, world: World) -> None:
    sign_in(page, world, world.admin_key)
    page.click("[data-test=nav-ipv6]")
    expect(page.locator("[data-test=ipv6-totals]")).to_contain_text(world.network.root_link)
    page.select_option("[data-test=ipv6-type]", "both")
    page.click("[data-test=ipv6-create]")
    expect(page.locator("[data-test=ipv6-created]")).to_contain_text("Created both")
    with world.http(world.admin_key) as http:
        instances = http.get("/api/list_proxies").json()["proxies"]
    assert len(instances) == 1
    made = instances[0]
    assert ipaddress.IPv6Address(made["ipv6_address"]) in world.network.prefix
    row = page.locator(f"[data-instance='{made['instance_id']}']")
    expect(row).to_contain_text(made["ipv6_address"])
    expect(row).to_contain_text(made["endpoints"]["socks5"])
    page.select_option("[data-test=ipv6-type]", "socks5")
    page.check("[data-test=ipv6-temp]")
    page.fill("[data-test=ipv6-ttl]", "900")
    page.click("[data-test=ipv6-create]")
    expect(page.locator("[data-test=ipv6-list] [data-instance]")).to_have_count(2)
    with world.http(world.admin_key) as http:
        temp = next(p for p in http.get("/api/list_proxies").json()["proxies"]
                    if p["instance_id"] != made["instance_id"])
    assert temp["type"] == "socks5"
    assert temp["ttl"] == 900
    assert temp["expires_at"] is not None
    expires = page.locator(f"[data-instance='{temp['instance_id']}'] [data-test=ipv6-expires]")
    expect(expires).not_to_have_text("never")
    expect(row.locator("[data-test=ipv6-expires]")).to_have_text("never")
    shot(page, "ipv6")

    row.locator("[data-test=ipv6-delete]").click()
    expect(row).to_have_count(0)
    rest = page.locator("[data-test=ipv6-list] [data-instance]")
    expect(rest).to_have_count(1)
    rest.locator("input[type=checkbox]").check()
    page.click("[data-test=ipv6-bulk-delete]")
    expect(rest).to_have_count(0)
    with world.http(world.admin_key) as http:
        assert http.get("/api/list_proxies").json()["proxies"] == []


def test_the_interface_a_user_must_name_is_asked_for_in_the_apis_words(
        page: Page, world: World) -> None:
    with world.http(world.admin_key) as http:
        refusal = http.post("/api/create_proxy", json={"type": "http"}).json()
    sign_in(page, world, world.admin_key)
    page.click("[data-test=nav-ipv6]")
    expect(page.locator("[data-test=ipv6-totals]")).to_be_visible()
    page.locator("[data-test=ipv6-interface]").evaluate(
        "el => { el.value = ''; el.dispatchEvent(new Event('change')) }")
    page.click("[data-test=ipv6-create]")
    expect(page.locator("[data-test=error]")).to_contain_text(refusal["error"])


def test_the_api_docs_page_works_with_nothing_from_another_host(page: Page, world: World) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(world.base + "/docs")
    expect(page.locator(".swagger-ui .opblock-summary-path").first).to_be_visible()
    expect(page.get_by_text("/proxies/acquire", exact=True).first).to_be_visible()
    assert any(url.endswith("/openapi.json") for url in requested)
    assert all(url.startswith(world.base) for url in requested), requested
    shot(page, "api-docs")


# --- pages added after the pool's: they leave what they make behind them, so they run last ---


def registered(world: World, usd_cents: int = 0) -> tuple[str, str]:
    """A new user's (key, id), with `usd_cents` on their usd balance."""
    with world.http() as http:
        made = http.post("/auth/register",
                         json={"email": f"u-{uuid.uuid4().hex[:8]}@example.com"}).json()
    if usd_cents:
        with world.http(world.admin_key) as http:
            granted = http.post(f"/admin/users/{made['user']['id']}/grants",
                                json={"currency": "usd", "amount": usd_cents})
            assert granted.status_code == 201, granted.text
    return made["api_key"]["key"], made["user"]["id"]


def test_an_admin_syncs_the_shop_and_sees_its_stats(page: Page, world: World) -> None:
    sign_in(page, world, world.admin_key)
    page.click("[data-test=nav-shop]")
    page.click("[data-test=shop-sync]")
    done = page.locator("[data-test=shop-done]")
    expect(done).to_contain_text(f"Synced: {UPSTREAM_PRODUCTS} fetched")
    with world.http(world.admin_key) as http:
        stats = http.get("/api/external-proxy/stats").json()
    assert stats["total_inventory"] == UPSTREAM_PRODUCTS
    expect(page.locator("[data-test=shop-inventory]")).to_have_text(str(UPSTREAM_PRODUCTS))
    expect(page.locator("[data-test=shop-total]")).to_have_text(str(UPSTREAM_PRODUCTS))
    page.click("[data-test=shop-cleanup]")
    expect(done).to_have_text("Removed 0 expired proxies from inventory")

    # With nothing on the balance, a purchase is refused in the API's words.
    product = page.locator("[data-test=shop-list] [data-product]").first
    with world.http(world.admin_key) as http:
        refused = http.post("/api/external-proxy/purchase", json={
            "product_id": int(str(product.get_attribute("data-product")))})
    assert refused.status_code == 402, refused.text
    product.locator("[data-test=shop-buy]").click()
    expect(page.locator("[data-test=error]")).to_contain_text(refused.json()["detail"])
    expect(page.locator("[data-test=shop-bought]")).to_have_count(0)


def test_a_user_filters_buys_exports_and_refunds_in_the_shop(page: Page, world: World) -> None:
    key, _ = registered(world, usd_cents=500)
    with world.http(key) as http:
        catalogue = http.get("/api/external-proxy/list", params={"page_size": 500}).json()
    assert catalogue["total"] == UPSTREAM_PRODUCTS
    wanted = catalogue["proxies"][0]
    same_place = [p for p in catalogue["proxies"]
                  if (p["country_code"], p["city"]) == (wanted["country_code"], wanted["city"])]
    purchases: list[Request] = []
    page.on("request", lambda r: purchases.append(r) if r.url.endswith("/purchase") else None)
    sign_in(page, world, key)
    for admin_only in ("shop-sync", "shop-cleanup", "shop-inventory"):
        expect(page.locator(f"[data-test={admin_only}]")).to_have_count(0)
    page.click("[data-test=nav-shop]")
    expect(page.locator("[data-test=shop-balance]")).to_have_text("$5.00")
    expect(page.locator("[data-test=shop-total]")).to_have_text(str(UPSTREAM_PRODUCTS))
    page.fill("[data-test=shop-country]", wanted["country_code"])
    page.fill("[data-test=shop-city]", wanted["city"])
    page.click("[data-test=shop-search]")
    listed = page.locator("[data-test=shop-list] [data-product]")
    expect(listed).to_have_count(len(same_place))
    for row in listed.all():
        expect(row).to_contain_text(f"({wanted['country_code']})")
        expect(row).to_contain_text(wanted["city"])

    page.locator(f"[data-product='{wanted['product_id']}'] [data-test=shop-buy]").click()
    expect(page.locator("[data-test=shop-bought]")).to_contain_text("Bought ORD-")
    with world.http(key) as http:
        orders = http.get("/api/external-proxy/orders").json()["orders"]
    assert len(orders) == 1
    order = orders[0]
    creds = order["credentials"]
    line = f"{creds['ip']}:{creds['port']}:{creds['login']}:{creds['password']}"
    row = page.locator(f"[data-order='{order['order_id']}']")
    expect(row.locator("[data-test=shop-credentials]")).to_have_text(line)
    expect(page.locator("[data-test=shop-balance]")).to_have_text("$3.00")
    assert len(purchases) == 1 and purchases[0].headers.get("idempotency-key")

    page.click("[data-test=shop-export-txt]")
    expect(page.locator("[data-test=shop-exported]")).to_have_value(line + "\n")
    page.click("[data-test=shop-export-csv]")
    expect(page.locator("[data-test=shop-exported]")).to_have_value(
        re.compile(rf"^order_id,proxy_id,ip,port,login,password,.*\n{order['order_id']},"))

    # The provider says the proxy is online: no refund, in the API's words.
    with world.http(key) as http:
        refusal = http.post("/api/external-proxy/refund",
                            json={"order_id": order["order_id"]}).json()["detail"]
    assert "only offline proxies are refunded" in refusal
    row.locator("[data-test=shop-refund]").click()
    expect(page.locator("[data-test=error]")).to_contain_text(refusal)
    expect(page.locator("[data-test=shop-balance]")).to_have_text("$3.00")

    # Offline at the provider: refunded, once.
    with httpx.Client(base_url=world.upstream.control_url, timeout=10) as control:
        control.post(f"/products/{order['proxy_id']}/status", json={"status": 0}
                     ).raise_for_status()
    row.locator("[data-test=shop-refund]").click()
    expect(page.locator("[data-test=shop-done]")).to_contain_text(
        "Proxy refunded successfully ($2.00)")
    expect(row.locator("[data-test=shop-refunded]")).to_be_visible()
    expect(page.locator("[data-test=error]")).to_have_count(0)
    expect(page.locator("[data-test=shop-balance]")).to_have_text("$5.00")
    page.fill("[data-test=shop-country]", "")
    page.fill("[data-test=shop-city]", "")
    page.click("[data-test=shop-search]")
    expect(page.locator("[data-test=shop-total]")).to_have_text(str(UPSTREAM_PRODUCTS - 1))
    shot(page, "shop")


def test_instagram_sessions_show_their_limits_used_and_left(page: Page, world: World) -> None:
    key, _ = registered(world)
    elite = {m.address.netloc for m in world.pool.members
             if m.behaviour is Behaviour.ELITE and m.address.protocol is ProxyProtocol.HTTP}
    with world.http(key) as http:
        alive = http.get("/proxies", params={"protocol": "http", "anonymity": "elite",
                                             "status": "active", "limit": 200}).json()["items"]
        refusal = http.post("/api/instagram/session", json={
            "username": "nobody", "session_id": "x", "user_agent": "ua",
            "proxy_id": str(uuid.uuid4())}).json()
    proxy = next(p for p in alive if f"{p['ip']}:{p['port']}" in elite)
    username, sessionid = f"ig_{uuid.uuid4().hex[:8]}", f"sess-{uuid.uuid4().hex}"
    world.instagram.register(username, sessionid)
    sign_in(page, world, key)
    page.click("[data-test=nav-instagram]")
    page.fill("[data-test=ig-username]", "nobody")
    page.fill("[data-test=ig-session-id]", "x")
    page.fill("[data-test=ig-proxy]", str(uuid.uuid4()))
    page.click("[data-test=ig-create]")
    expect(page.locator("[data-test=error]")).to_contain_text(refusal["error_code"])
    expect(page.locator("[data-test=error]")).to_contain_text(refusal["message"])

    page.fill("[data-test=ig-username]", username)
    page.fill("[data-test=ig-session-id]", sessionid)
    page.fill("[data-test=ig-proxy]", proxy["id"])
    page.fill("[data-test=ig-limit-like]", "5")
    page.click("[data-test=ig-create]")
    row = page.locator(f"[data-ig='{username}']")
    expect(row.locator("[data-test=ig-status]")).to_have_text("active")
    expect(row).to_contain_text(f"{proxy['ip']}:{proxy['port']}")
    expect(row.locator("[data-test=ig-like]")).to_have_text("0 / 5 of 5")
    expect(page.locator("[data-test=error]")).to_have_count(0)
    with world.http(key) as http:
        liked = http.post("/api/instagram/like", json={"username": username, "media_id": "m1"})
        assert liked.status_code == 200, liked.text
        follow = http.get(f"/api/instagram/limits/{username}").json()["data"]["limits"]["follow"]
    # Live: the like made by another client shows up by itself.
    expect(row.locator("[data-test=ig-like]")).to_have_text("1 / 4 of 5", timeout=20_000)
    expect(row.locator("[data-test=ig-follow]")).to_have_text(
        f"0 / {follow['remaining']} of {follow['limit']}")
    shot(page, "instagram")

    row.locator("[data-test=ig-invalidate]").click()
    expect(row.locator("[data-test=ig-status]")).to_have_text("invalidated")
    expect(row.locator("[data-test=ig-like]")).to_have_text("\N{EN DASH}")


def test_the_gateway_page_gives_a_ready_curl_line_and_the_usage(
        page: Page, world: World) -> None:
    key, _ = registered(world)
    with world.http(key) as http:
        gateway = http.get("/gateway").json()
    assert gateway["running"] and gateway["port"]
    proxy = f"http://user:{key}@{gateway['host']}:{gateway['port']}"
    sign_in(page, world, key)
    page.click("[data-test=nav-gateway]")
    expect(page.locator("[data-test=gw-curl]").first).to_have_text(
        f"curl -x {proxy} https://example.com/")
    expect(page.locator("[data-test=gw-requests]")).to_have_text("0")
    page.fill("[data-test=gw-country]", "US")
    page.fill("[data-test=gw-session]", "s1")
    expect(page.locator("[data-test=gw-curl]").last).to_have_text(
        f"curl -x socks5h://user-country-us-session-s1:{key}@{gateway['host']}:"
        f"{gateway['port']} https://example.com/")
    # The line works: a request through it is counted in the usage, live.
    with httpx.Client(proxy=proxy, timeout=30) as through:
        assert through.get(world.base + "/judge").status_code == 200
    expect(page.locator("[data-test=gw-requests]")).to_have_text("1", timeout=20_000)
    shot(page, "gateway")


def test_a_buyer_takes_a_bought_proxy_as_a_private_exit_on_the_gateway_page(
        page: Page, world: World) -> None:
    key, _ = registered(world, usd_cents=500)
    with world.http(world.admin_key) as http:
        assert http.post("/api/external-proxy/sync", json={}).status_code == 200
    with world.http(key) as http:
        product = http.get("/api/external-proxy/list",
                           params={"page_size": 500}).json()["proxies"][-1]
        purchase = http.post("/api/external-proxy/purchase",
                             json={"product_id": product["product_id"]},
                             headers={"Idempotency-Key": uuid.uuid4().hex})
        assert purchase.status_code == 200, purchase.text
        order = purchase.json()["order_id"]
        gateway = http.get("/gateway").json()
    sign_in(page, world, key)
    page.click("[data-test=nav-gateway]")
    page.select_option("[data-test=gw-order]", order)
    expect(page.locator("[data-test=gw-order-note]")).to_contain_text(order)
    expect(page.locator("[data-test=gw-country]")).to_be_disabled()
    exit_url = f"http://user-order-{order}:{key}@{gateway['host']}:{gateway['port']}"
    expect(page.locator("[data-test=gw-curl]").first).to_have_text(
        f"curl -x {exit_url} https://example.com/")
    # The line works once proxyfleet's checker has found the bought proxy alive (until then
    # the gateway answers 502 rather than hand out another exit).
    status = 0
    deadline = time.monotonic() + 60
    while status != 200 and time.monotonic() < deadline:
        with httpx.Client(proxy=exit_url, timeout=30) as through:
            status = through.get(world.base + "/judge").status_code
        if status != 200:
            assert status == 502
            time.sleep(1)
    assert status == 200
    shot(page, "gateway-private-exit")


def test_the_manager_creates_disables_and_deletes_a_proxy_with_its_rotation(
        page: Page, world: World) -> None:
    address = f"127.99.{uuid.uuid4().int % 200}.{uuid.uuid4().int % 200 + 1}"
    with world.http(world.admin_key) as http:
        rotation = http.get("/api/proxies/rotation").json()
    sign_in(page, world, world.admin_key)
    page.click("[data-test=nav-manager]")
    expect(page.locator("[data-test=rot-strategy]")).to_have_value(rotation["strategy"])
    expect(page.locator("[data-test=rot-window]")).to_have_value(str(rotation["health_window"]))
    expect(page.locator("[data-test=rot-threshold]")).to_have_value(
        str(rotation["error_threshold"]))
    page.fill("[data-test=mgr-ip]", address)
    page.fill("[data-test=mgr-port]", "8080")
    page.fill("[data-test=mgr-session]", f"cookie-{uuid.uuid4().hex}")
    page.click("[data-test=mgr-add]")
    row = page.locator(f"[data-manager='{address}:8080']")
    expect(row.locator("[data-test=mgr-state]")).to_have_text("active")
    expect(row.locator("[data-test=mgr-sessions]")).to_contain_text("active")
    row.locator("[data-test=mgr-disable]").click()
    expect(row.locator("[data-test=mgr-state]")).to_have_text("disabled")
    with world.http(world.admin_key) as http:
        made = next(p for p in http.get("/api/proxies").json() if p["ip"] == address)
    assert made["is_active"] is False and made["hourly_budget"] is None

    # The proxy's own hourly budget is stored on the server, which every hand-out follows.
    budget = row.locator("[data-test=mgr-budget]")
    budget.fill("7")
    budget.dispatch_event("change")
    with world.http(world.admin_key) as http:
        for _ in range(100):
            made = http.get(f"/api/proxies/{made['id']}").json()
            if made["hourly_budget"] is not None:
                break
            page.wait_for_timeout(100)
    assert made["hourly_budget"] == 7
    budget.fill("")
    budget.dispatch_event("change")
    expect(budget).to_have_value("")
    with world.http(world.admin_key) as http:
        for _ in range(100):
            made = http.get(f"/api/proxies/{made['id']}").json()
            if made["hourly_budget"] is None:
                break
            page.wait_for_timeout(100)
    assert made["hourly_budget"] is None

    try:
        page.fill("[data-test=rot-threshold]", str(rotation["error_threshold"] + 2))
        page.click("[data-test=rot-save]")
        with world.http(world.admin_key) as http:
            for _ in range(100):
                saved = http.get("/api/proxies/rotation").json()
                if saved["error_threshold"] != rotation["error_threshold"]:
                    break
                page.wait_for_timeout(100)
        assert saved == rotation | {"error_threshold": rotation["error_threshold"] + 2}
        shot(page, "manager")
    finally:
        with world.http(world.admin_key) as http:
            http.put("/api/proxies/rotation", json=rotation).raise_for_status()

    row.locator("[data-test=mgr-delete]").click()
    expect(row).to_have_count(0)
    with world.http(world.admin_key) as http:
        assert all(p["ip"] != address for p in http.get("/api/proxies").json())
