"""`proxyfleet serve` serves the dashboard at `/` from the build shipped inside the package,
with every file it loads on this server (no CDN), and no route that reads data for it."""

from __future__ import annotations

import re

import httpx

from proxyfleet.api.dashboard import STATIC

EXTERNAL = re.compile(rb"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)


async def test_the_page_and_its_assets_are_served_without_a_key(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    assert page.content == (STATIC / "index.html").read_bytes()

    loaded = re.findall(r'(?:src|href)="(/assets/[^"]+)"', page.text)
    assert any(path.endswith(".js") for path in loaded), page.text
    assert any(path.endswith(".css") for path in loaded), page.text
    for path in loaded:
        asset = await client.get(path)
        assert asset.status_code == 200, path
        assert asset.content == (STATIC / path.lstrip("/")).read_bytes()
        assert "immutable" in asset.headers["cache-control"]
        kind = "javascript" if path.endswith(".js") else "css"
        assert kind in asset.headers["content-type"]


async def test_nothing_is_loaded_from_another_host() -> None:
    shipped = [path for path in STATIC.rglob("*") if path.is_file()]
    assert shipped
    for path in shipped:
        assert not EXTERNAL.search(path.read_bytes()), path


async def test_a_missing_asset_is_a_404_in_the_api_shape(client: httpx.AsyncClient) -> None:
    missing = await client.get("/assets/nothing-here.js")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"
    assert "immutable" not in missing.headers.get("cache-control", "")


async def test_the_api_keeps_its_paths_and_its_key_check(client: httpx.AsyncClient) -> None:
    answer = await client.get("/account")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "UNAUTHORIZED"


async def test_the_api_docs_load_swagger_ui_from_this_server(client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200
    loaded = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", docs.text)
    assert "/openapi.json" in loaded
    assets = [path for path in loaded if path.startswith("/assets/")]
    assert {path.rsplit(".", 1)[1] for path in assets} == {"js", "css"}
    for path in [*assets, "/favicon.svg"]:
        assert (await client.get(path)).status_code == 200, path
    assert not [path for path in loaded if "//" in path], loaded
    assert '"validatorUrl": null' in docs.text
    assert (await client.get("/docs/oauth2-redirect")).status_code == 200
    assert (await client.get("/redoc")).status_code == 404
