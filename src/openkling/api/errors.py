"""Every failure leaves as a Kling envelope: never FastAPI's 422 shape, never a bare 500."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match

from openkling.api.envelope import error_response
from openkling.api.failures import request_failures, unexpected_to_kling
from openkling.api.middleware import BodyTooLarge
from openkling.core.errors import Code, KlingError

log = logging.getLogger(__name__)

_BODY_SHAPE_ERRORS = {"model_attributes_type", "dict_type", "model_type"}


def request_id_of(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", "-"))


def validation_to_kling(errors: list[dict[str, Any]]) -> KlingError:
    """Translate pydantic's first complaint into 1200 (body unusable) or 1201 (a field)."""
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
    loc = [str(part) for part in first.get("loc", ())]
    kind = str(first.get("type", ""))
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if kind == "json_invalid":
        ctx = first.get("ctx")
        detail = ctx.get("error") if isinstance(ctx, dict) else None
        detail = detail or message
        return KlingError(Code.INVALID_REQUEST, f"malformed JSON body: {detail}")
    if loc == ["body"]:
        if kind == "missing":
            return KlingError(Code.INVALID_REQUEST, "a JSON object body is required")
        if kind in _BODY_SHAPE_ERRORS:
            return KlingError(Code.INVALID_REQUEST, "the request body must be a JSON object")
    if loc and loc[0] in ("body", "query", "path", "header"):
        loc = loc[1:]
    # Tagged unions and literals add type names to the location; keep the field path only.
    field = ".".join(part for part in loc if not part.startswith(("function-", "literal[")))
    if not field:
        # A rule across fields names the field it blames first ("image_tail: cannot ...").
        named, _, reason = message.partition(": ")
        if reason and named.replace("_", "").replace("/", "").isalnum():
            return KlingError.invalid(named, reason)
    return KlingError.invalid(field or "request", message)


def install_error_handlers(app: FastAPI) -> None:
    async def on_kling_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, KlingError)
        return error_response(exc, request_id_of(request))

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response(validation_to_kling(list(exc.errors())), request_id_of(request))

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code in (404, 405):
            # A 405 names the methods the path serves; a path that serves none (TRACE or an
            # invented method on an unknown path) is unknown: 404, like any other.
            allowed = allowed_methods(request) if exc.status_code == 405 else ""
            error = KlingError(
                Code.METHOD_NOT_VALID,
                f"{request.method} {request.url.path} is not a valid method for this path",
                http_status=405 if allowed else 404,
                headers={"Allow": allowed} if allowed else {},
            )
        elif exc.status_code < 500:
            error = KlingError(Code.INVALID_REQUEST, str(exc.detail), http_status=exc.status_code)
        else:
            error = KlingError(Code.INTERNAL, "internal error")
        return error_response(error, request_id_of(request))

    async def on_body_too_large(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BodyTooLarge)
        return error_response(exc.error, request_id_of(request))

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        request_failures.failed(exc)
        return error_response(unexpected_to_kling(exc), request_id_of(request))

    app.add_exception_handler(KlingError, on_kling_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(BodyTooLarge, on_body_too_large)
    app.add_exception_handler(Exception, on_unexpected)


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
#: The catch-all route that authenticates unknown paths; it serves no method of its own, so
#: it (and the router that includes it) never counts as serving a method.
FALLBACK_ROUTE = "unknown_route"
FALLBACK_ROUTERS: list[object] = []


def _is_fallback(route: object) -> bool:
    return (getattr(route, "name", "") == FALLBACK_ROUTE
            or getattr(route, "original_router", None) in FALLBACK_ROUTERS)


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (Starlette names only the matched route's;
    included routers only answer whether a method fully matches)."""
    routes = request.app.routes
    allowed = [method for method in _METHODS
               if any(route.matches({**request.scope, "method": method})[0] == Match.FULL
                      for route in routes if not _is_fallback(route))]
    return ", ".join(allowed)
