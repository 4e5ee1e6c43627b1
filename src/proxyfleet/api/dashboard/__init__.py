"""The dashboard: the Vue app built from `frontend/` into `static/` (shipped inside the package,
so a machine without Node.js serves it too), served at `/` with its hashed assets under
`/assets/`. It is a client of the public API like any other: no route here reads data.
The API docs page (`/docs`, Swagger UI) is served from the same shipped files, so it works
offline too (`static/docs.json` names Swagger UI's hashed files)."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).parent / "static"
INDEX = STATIC / "index.html"
FAVICON = STATIC / "favicon.svg"
DOCS_PATH = "/docs"
DOCS_REDIRECT_PATH = "/docs/oauth2-redirect"

# Hashed file names change with their content: they may be kept for a long time. The page
# itself must be asked again, so a new build is picked up at once.
ASSET_CACHE = "public, max-age=31536000, immutable"


class _Assets(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = ASSET_CACHE
        return response


def mount(app: FastAPI) -> None:
    """Serve the dashboard at `/` (and `/index.html`), its files at `/assets/`, and the API
    docs at `/docs` from the same files (the app is made with `docs_url=None`)."""

    async def index() -> FileResponse:
        return FileResponse(INDEX, media_type="text/html",
                            headers={"Cache-Control": "no-cache"})

    async def favicon() -> FileResponse:
        return FileResponse(FAVICON, media_type="image/svg+xml")

    swagger = json.loads((STATIC / "docs.json").read_text())

    async def docs() -> HTMLResponse:
        # No validator badge: Swagger UI would ask a public validator about our schema.
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} API",
            swagger_js_url=swagger["js"], swagger_css_url=swagger["css"],
            swagger_favicon_url="/favicon.svg", oauth2_redirect_url=DOCS_REDIRECT_PATH,
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True})

    async def docs_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    for path, endpoint in (("/", index), ("/index.html", index), ("/favicon.svg", favicon),
                           (DOCS_PATH, docs), (DOCS_REDIRECT_PATH, docs_redirect)):
        app.add_api_route(path, endpoint, methods=["GET"], include_in_schema=False)
    app.mount("/assets", _Assets(directory=STATIC / "assets", check_dir=False), name="assets")
