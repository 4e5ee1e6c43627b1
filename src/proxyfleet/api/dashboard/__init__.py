"""The dashboard: the Vue app built from `frontend/` into `static/` (shipped inside the package,
so a machine without Node.js serves it too), served at `/` with its hashed assets under
`/assets/`. It is a client of the public API like any other: no route here reads data."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).parent / "static"
INDEX = STATIC / "index.html"

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
    """Serve the dashboard at `/` (and `/index.html`), its files at `/assets/`."""

    async def index() -> FileResponse:
        return FileResponse(INDEX, media_type="text/html",
                            headers={"Cache-Control": "no-cache"})

    app.add_api_route("/", index, methods=["GET"], include_in_schema=False)
    app.add_api_route("/index.html", index, methods=["GET"], include_in_schema=False)
    app.mount("/assets", _Assets(directory=STATIC / "assets", check_dir=False), name="assets")
