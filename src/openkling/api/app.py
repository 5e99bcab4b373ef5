"""The FastAPI application: Kling routes at /v1 and /kling/v1, files, health, and (by default)
an in-process worker that a new task wakes at once."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from openkling import __version__
from openkling.api import routes_files, routes_health, routes_text2video, routes_upstream
from openkling.api.deps import SECURITY_SCHEME
from openkling.api.errors import install_error_handlers
from openkling.api.limits import RateLimiter
from openkling.api.middleware import RequestContextMiddleware
from openkling.api.routes_admin import router as admin_router
from openkling.api.routes_console import router as console_router
from openkling.config import Settings
from openkling.core.models import Text2VideoRequest
from openkling.runtime import Runtime
from openkling.worker.runner import Worker

log = logging.getLogger(__name__)

DESCRIPTION = """A self-hosted, Kling-compatible video generation API.

Every route exists at `/v1/...` (the official form) and `/kling/v1/...` (the gateway form).
Authenticate with `Authorization: Bearer <token>`, where the token is an openkling API key or a
Kling-style HS256 JWT (`iss` = access key, `exp`, `nbf`) signed with your secret key.
Every JSON response is the envelope `{code, message, request_id, data}`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime.build(settings)
        await runtime.migrate()
        app.state.runtime = runtime
        worker: Worker | None = None
        if settings.embedded_worker:
            worker = Worker(runtime)
            runtime.service.on_created = worker.wake
            await worker.start()
        try:
            yield
        finally:
            if worker is not None:
                await worker.stop()
            await runtime.close()

    app = FastAPI(
        title="openkling",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
    install_error_handlers(app)
    app.include_router(routes_text2video.router, prefix="/v1")
    app.include_router(routes_text2video.router, prefix="/kling/v1")
    app.include_router(routes_files.router)
    app.include_router(routes_health.router)
    app.include_router(routes_upstream.router)
    app.include_router(console_router)
    app.include_router(admin_router)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)
    app.openapi = lambda: _openapi_with_request_schemas(app)  # type: ignore[method-assign]
    return app


def _openapi_with_request_schemas(app: FastAPI) -> dict[str, Any]:
    """Create bodies are parsed by hand (any Content-Type); publish their schemas anyway."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version,
                             description=app.description, routes=app.routes)
        schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEME
        components = schema["components"].setdefault("schemas", {})
        request_schema = Text2VideoRequest.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        components.update(request_schema.pop("$defs", {}))
        components["Text2VideoRequest"] = request_schema
        for name in ("HTTPValidationError", "ValidationError"):  # we answer 400, never 422
            components.pop(name, None)
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                operation.get("responses", {}).pop("422", None)
        app.openapi_schema = schema
    return app.openapi_schema
