"""The FastAPI app factory. Routes of every surface are mounted here; the container is built
by the caller (the CLI, or a test) and owned by whoever built it unless `own_container`.
`app_from_environment` is the factory each `serve --workers` process imports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match

from proxyfleet import __version__, bootstrap
from proxyfleet.api import dashboard
from proxyfleet.api.instagram import routes as instagram_routes
from proxyfleet.api.ipv6 import instances as ipv6_instances
from proxyfleet.api.manager import proxies as manager_proxies
from proxyfleet.api.manager.envelope import MANAGER
from proxyfleet.api.pool import (
    accounts,
    gateway,
    judge,
    metrics,
    notifiers,
    proxies,
    sources,
    stats,
    system,
)
from proxyfleet.api.pool.envelope import POOL
from proxyfleet.api.shop import routes as shop_routes
from proxyfleet.api.shop import telegram as telegram_routes
from proxyfleet.api.surface import Surface, render_domain, render_http, render_validation
from proxyfleet.bootstrap import Container
from proxyfleet.core.errors import DomainError
from proxyfleet.logconfig import configure
from proxyfleet.runtime import tune_collector
from proxyfleet.settings import Settings

log = structlog.get_logger(__name__)

# Paths answered without an API key; every other route requires one.
PUBLIC_PATHS = frozenset({"/auth/register", "/health", "/judge", "/openapi.json", "/docs",
                          "/docs/oauth2-redirect", "/api/health", "/", "/index.html",
                          "/favicon.svg"})


def create_app(container: Container, *, own_container: bool = False) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if own_container:
            await container.start()
            if container.settings.scheduler_enabled:
                container.start_background()
            if container.settings.gateway_enabled:
                await container.start_gateway()
        try:
            yield
        finally:
            if own_container:
                await container.close()

    # The docs page is the dashboard's (served from shipped files, no CDN); ReDoc would load
    # from one, so there is none.
    app = FastAPI(title="proxyfleet", version=__version__, lifespan=lifespan, docs_url=None,
                  redoc_url=None)
    app.state.container = container
    _install_openapi(app)
    for router in (system.router, judge.router, accounts.router, sources.router,
                   proxies.router, stats.router, notifiers.router, metrics.router,
                   gateway.router):
        app.include_router(router)
    app.include_router(ipv6_instances.router)
    dashboard.mount(app)
    app.include_router(shop_routes.router)
    app.include_router(telegram_routes.router)
    app.include_router(instagram_routes.router)
    app.include_router(manager_proxies.router)
    _install_fallback_handlers(app)
    return app


BEARER = "bearerAuth"


def _install_openapi(app: FastAPI) -> None:
    """An OpenAPI document that declares the Bearer scheme on every route that needs a key,
    so the docs page's (the dashboard's, `api/dashboard`) Authorize button and Try-it-out
    work."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            schema.setdefault("components", {})["securitySchemes"] = {BEARER: {
                "type": "http", "scheme": "bearer", "bearerFormat": "pp_ API key",
                "description": "An API key: `Authorization: Bearer pp_…`."}}
            for path, operations in schema["paths"].items():
                if path in PUBLIC_PATHS:
                    continue
                for operation in operations.values():
                    operation["security"] = [{BEARER: []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def app_from_environment() -> FastAPI:
    """One worker of `proxyfleet serve --workers N`: a fresh process that reads its settings
    from the environment (the CLI puts its options there) and owns its container."""
    settings = Settings()
    configure(settings.log_level)
    application = create_app(bootstrap.build(settings), own_container=True)
    tune_collector()
    return application


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route serves at the request's path."""
    scope = dict(request.scope)
    return sorted({method for route in _leaf_routes(app.router.routes)
                   if route.matches(scope)[0] is not Match.NONE
                   for method in getattr(route, "methods", None) or ()})


def _leaf_routes(routes: Sequence[BaseRoute]) -> Iterator[BaseRoute]:
    """The routes themselves, through included routers (mounted without a prefix here)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _leaf_routes(inner.routes)
        else:
            yield route


# Paths a surface owns whole: an unknown path or a wrong method under one answers in that
# surface's envelope. Seed 000's proxy numbers take an int converter (so /api/proxies/next is
# never taken for a number), which makes /api/proxies/abc such an unknown path.
_OWNED_PATHS: Sequence[tuple[str, Surface]] = (("/api/proxies", MANAGER),)


def _fallback_surface(request: Request) -> Surface:
    path = request.url.path
    for prefix, surface in _OWNED_PATHS:
        if path == prefix or path.startswith(prefix + "/"):
            return surface
    return POOL


def _install_fallback_handlers(app: FastAPI) -> None:
    """Errors raised outside a surface's routes (unknown paths, wrong methods) use the
    envelope of the surface owning the path, else the pool API's, the main surface's."""

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        response = render_http(_fallback_surface(request), error)
        if error.status_code == 405:
            # Starlette names the methods of the first route that matched the path; a path
            # served by several routes allows all of theirs.
            response.headers["Allow"] = ", ".join(allowed_methods(app, request))
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> Response:
        return render_validation(POOL, error)

    @app.exception_handler(DomainError)
    async def domain_error(_: Request, error: DomainError) -> Response:
        return render_domain(POOL, error)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        log.exception("unhandled error", path=request.url.path)
        return POOL.render(500, "INTERNAL_ERROR", "Something went wrong on our side.", {})
