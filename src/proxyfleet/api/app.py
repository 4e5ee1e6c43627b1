"""The FastAPI app factory. Routes of every surface are mounted here; the container is built
by the caller (the CLI, or a test) and owned by whoever built it unless `own_container`.
`app_from_environment` is the factory each `serve --workers` process imports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from proxyfleet import __version__, bootstrap
from proxyfleet.api.instagram import routes as instagram_routes
from proxyfleet.api.ipv6 import instances as ipv6_instances
from proxyfleet.api.manager import proxies as manager_proxies
from proxyfleet.api.pool import accounts, judge, proxies, sources, stats, system
from proxyfleet.api.pool.envelope import POOL
from proxyfleet.api.surface import render_domain, render_http, render_validation
from proxyfleet.bootstrap import Container
from proxyfleet.core.errors import DomainError
from proxyfleet.logconfig import configure
from proxyfleet.runtime import tune_collector
from proxyfleet.settings import Settings

log = structlog.get_logger(__name__)

# Paths answered without an API key; every other route requires one.
PUBLIC_PATHS = frozenset({"/auth/register", "/health", "/judge", "/openapi.json", "/docs",
                          "/docs/oauth2-redirect", "/redoc", "/api/health"})


def create_app(container: Container, *, own_container: bool = False) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if own_container:
            await container.start()
            if container.settings.scheduler_enabled:
                container.start_background()
        try:
            yield
        finally:
            if own_container:
                await container.close()

    app = FastAPI(title="proxyfleet", version=__version__, lifespan=lifespan)
    app.state.container = container
    for router in (system.router, judge.router, accounts.router, sources.router,
                   proxies.router, stats.router):
        app.include_router(router)
    app.include_router(ipv6_instances.router)
    app.include_router(instagram_routes.router)
    app.include_router(manager_proxies.router)
    _install_fallback_handlers(app)
    return app


def app_from_environment() -> FastAPI:
    """One worker of `proxyfleet serve --workers N`: a fresh process that reads its settings
    from the environment (the CLI puts its options there) and owns its container."""
    settings = Settings()
    configure(settings.log_level)
    application = create_app(bootstrap.build(settings), own_container=True)
    tune_collector()
    return application


def _install_fallback_handlers(app: FastAPI) -> None:
    """Errors raised outside a surface's routes (unknown paths, wrong methods) use the pool
    API's envelope, the main surface's."""

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> Response:
        return render_http(POOL, error)

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
