"""One mechanism for error envelopes: every surface says how it renders an error, and its
routes render every domain error, validation failure and HTTP error through it."""

from __future__ import annotations

import json
import math
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
    ErrorKind.RATE_LIMITED: 429,
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
    elif error.kind is ErrorKind.RATE_LIMITED and "retry_after_seconds" in error.details:
        response.headers["Retry-After"] = str(math.ceil(error.details["retry_after_seconds"]))
    return response


def render_validation(surface: Surface, error: RequestValidationError) -> Response:
    return surface.render(422, "VALIDATION_ERROR", "The request is not valid.",
                          {"fields": field_errors(error.errors())})


def render_http(surface: Surface, error: HTTPException) -> Response:
    if error.status_code == 400:
        # FastAPI's answer to a body it cannot decode (not UTF-8, a broken form): bad input,
        # answered as every other validation failure is.
        return surface.render(422, "VALIDATION_ERROR", "The request body cannot be read.",
                              {"fields": [{"field": "body", "message": str(error.detail),
                                           "type": "body_unreadable"}]})
    message = error.detail if isinstance(error.detail, str) else "Request failed."
    response = surface.render(error.status_code, CODE_BY_STATUS.get(error.status_code, "ERROR"),
                              message, {})
    for name, value in (error.headers or {}).items():
        response.headers[name] = value
    return response


Handler = Callable[[Request], Coroutine[Any, Any, Response]]

# A NUL character is text no database keeps alike: PostgreSQL refuses it in `text` (a 500),
# SQLite stores it. Every surface refuses it before a handler runs.
_NUL = "\x00"
_NUL_BYTES = (b"\x00", b"\\u0000")
_NUL_QUERY = b"%00"


def _nul_at(value: Any, where: str) -> str | None:
    """Where in a decoded JSON value a NUL character is (`body.proxies.0.username`; a key
    holding one is named by the object holding it), or None."""
    if isinstance(value, str):
        return where if _NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = where if _NUL in key else _nul_at(item, f"{where}.{key}")
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_at(item, f"{where}.{index}")
            if found is not None:
                return found
    return None


def _nul_refused(where: str) -> RequestValidationError:
    return RequestValidationError([{"loc": tuple(where.split(".")), "type": "nul",
                                    "msg": "Text may not contain NUL characters."}])


async def refuse_nul(request: Request) -> None:
    """Raise a validation error (each surface answers it as it answers bad fields) when the
    path, the query or a JSON body holds a NUL character.

    The body is decoded only when its bytes hold a NUL or a `\\u0000` escape (a cheap search
    on every request); Starlette keeps the body, so the handler reads it again for free."""
    if _NUL in request.scope["path"]:
        raise _nul_refused("path")
    if _NUL_QUERY in request.scope["query_string"]:
        raise _nul_refused("query")
    if request.method in {"GET", "HEAD", "DELETE", "OPTIONS"}:
        return
    body = await request.body()
    if not any(marker in body for marker in _NUL_BYTES):
        return
    try:
        # A raw NUL byte is no JSON text: the body as a whole is refused.
        found = "body" if _NUL.encode() in body else _nul_at(json.loads(body), "body")
    except ValueError:
        return  # not JSON: the handler's own validation answers it
    if found is not None:
        raise _nul_refused(found)


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
                    await refuse_nul(request)
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


ERROR_MEANINGS: Mapping[int, str] = {
    400: "Bad request.",
    401: "Missing, unknown or revoked API key.",
    402: "Not enough credits.",
    403: "The key's role may not do this (or the target is not allowed).",
    404: "Not found.",
    405: "Method not allowed; the Allow header lists the path's methods.",
    409: "Conflicts with the current state.",
    422: "The request is not valid: details.fields says which parts.",
    429: "Too many requests; Retry-After says when to come back.",
    500: "Something went wrong on the server.",
    502: "An upstream (a list server, a provider, a target) failed.",
    503: "A dependency does not answer.",
}


def documented(model: type[Any], statuses: Sequence[int],
               models: Mapping[int, Any] | None = None) -> dict[int | str, Any]:
    """The `responses=` of a route: each status it answers besides success, with the body
    model (`models` overrides it for some statuses: a model, or a union of the models a
    status may answer in)."""
    chosen = models or {}
    return {status: {"model": chosen.get(status, model), "description": ERROR_MEANINGS[status]}
            for status in statuses}
