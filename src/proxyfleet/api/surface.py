"""One mechanism for error envelopes: every surface says how it renders an error, and its
routes render every domain error, validation failure and HTTP error through it."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Protocol

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from proxyfleet.core.errors import DomainError, ErrorKind

STATUS_BY_KIND: Mapping[ErrorKind, int] = {
    ErrorKind.INVALID: 422,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.PAYMENT_REQUIRED: 402,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.UPSTREAM: 502,
    ErrorKind.INTERNAL: 500,
}

CODE_BY_STATUS: Mapping[int, str] = {
    400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED", 409: "CONFLICT", 413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE", 422: "VALIDATION_ERROR", 429: "RATE_LIMITED",
    500: "INTERNAL_ERROR", 502: "BAD_GATEWAY", 503: "SERVICE_UNAVAILABLE",
}


class Surface(Protocol):
    """How one surface (pool, manager, shop, …) answers errors."""

    def render(self, status: int, code: str, message: str,
               details: Mapping[str, Any]) -> Response: ...

    def status_for(self, error: DomainError) -> int: ...


def field_errors(errors: Sequence[Any]) -> list[dict[str, str]]:
    return [{"field": ".".join(str(part) for part in err.get("loc", ())),
             "message": str(err.get("msg", "invalid")), "type": str(err.get("type", ""))}
            for err in errors]


def render_domain(surface: Surface, error: DomainError) -> Response:
    response = surface.render(surface.status_for(error), error.code, error.message,
                              error.details)
    if error.kind is ErrorKind.UNAUTHENTICATED:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def render_validation(surface: Surface, error: RequestValidationError) -> Response:
    return surface.render(422, "VALIDATION_ERROR", "The request is not valid.",
                          {"fields": field_errors(error.errors())})


def render_http(surface: Surface, error: HTTPException) -> Response:
    message = error.detail if isinstance(error.detail, str) else "Request failed."
    response = surface.render(error.status_code, CODE_BY_STATUS.get(error.status_code, "ERROR"),
                              message, {})
    for name, value in (error.headers or {}).items():
        response.headers[name] = value
    return response


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


# Turns a foreign exception a route let through into the domain error to answer with, or
# None to let it go on (to the app's 500 handler).
Translation = Callable[[Exception], DomainError | None]


def surface_router(surface: Surface, translate: Translation | None = None,
                   **router_options: Any) -> APIRouter:
    """An APIRouter whose routes render their errors in `surface`'s envelope (and, with
    `translate`, the foreign exceptions it names)."""

    class SurfaceRoute(APIRoute):
        def get_route_handler(self) -> Handler:
            handler = super().get_route_handler()

            async def handle(request: Request) -> Response:
                try:
                    return await handler(request)
                except DomainError as error:
                    return render_domain(surface, error)
                except RequestValidationError as error:
                    return render_validation(surface, error)
                except HTTPException as error:
                    return render_http(surface, error)
                except Exception as error:
                    translated = translate(error) if translate is not None else None
                    if translated is None:
                        raise
                    return render_domain(surface, translated)

            return handle

    return APIRouter(route_class=SurfaceRoute, **router_options)
