"""The FastAPI application: Kling routes at /v1 and /kling/v1, files, health, the poll fast
path, and (by default) an in-process worker that a new task wakes at once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from openkling import __version__
from openkling.api import (
    routes_account,
    routes_files,
    routes_health,
    routes_metrics,
    routes_tasks,
    routes_upstream,
)
from openkling.api.docs_ui import install as install_docs_ui
from openkling.api.errors import install_error_handlers
from openkling.api.failures import request_failures
from openkling.api.fastpath import Poll, poll_key, send_poll, squeeze_slashes
from openkling.api.middleware import RequestContextMiddleware
from openkling.api.openai.router import router as openai_router
from openkling.api.routes_admin import router as admin_router
from openkling.api.routes_console import router as console_router
from openkling.api.services import ApiServices
from openkling.assembly import api_process
from openkling.config import Settings
from openkling.core.families import FAMILIES, IMAGE2VIDEO, body_limits

DESCRIPTION = """A self-hosted, Kling-compatible video generation API.

Every route exists at `/v1/...` (the official form) and `/kling/v1/...` (the gateway form).
Authenticate with `Authorization: Bearer <token>`, where the token is an openkling API key or a
Kling-style HS256 JWT (`iss` = access key, `exp`, `nbf`) signed with your secret key.
Every JSON response is the envelope `{code, message, request_id, data}`.
"""


class OpenKlingApp(FastAPI):
    """FastAPI, with polls answered before the framework's stack (see `api/fastpath.py`)."""

    fast_poll = True
    #: What the fast path answers with, while the lifespan runs (`state.services` too; this
    #: plain attribute costs a poll less than Starlette's `State` lookup).
    services: ApiServices | None = None

    def poll_for(self, scope: Scope) -> tuple[ApiServices, Poll] | None:
        """What answers this request when it is a plain poll (`api/http_protocol.py` asks,
        to answer it without the ASGI layers), else None."""
        if self.fast_poll and self.services is not None and "//" not in scope["path"]:
            poll = poll_key(scope)
            if poll is not None:
                return self.services, poll
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "//" in scope["path"]:
            squeeze_slashes(scope)
        if self.fast_poll and self.services is not None:
            poll = poll_key(scope)
            if poll is not None:
                await send_poll(self.services, poll, scope, send)
                return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, *, fast_poll: bool = True,
               on_fatal: Callable[[str], None] | None = None) -> FastAPI:
    """The API process (`openkling.assembly.api_process` builds its parts at start-up).

    `fast_poll=False` leaves polls to the FastAPI route (the parity test compares both).
    `on_fatal` is called when the process can no longer do its work (a background loop
    ended): `openkling serve` then exits non-zero."""
    settings = settings or Settings()
    request_failures.interval = settings.failure_log_seconds

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with api_process(settings, on_fatal=on_fatal) as parts:
            services = ApiServices.from_parts(parts, settings)
            app.state.services = services
            if isinstance(app, OpenKlingApp):
                app.services = services
            try:
                yield
            finally:
                if isinstance(app, OpenKlingApp):
                    app.services = None
                del app.state.services
                await services.limiter.close()

    app = OpenKlingApp(
        title="openkling",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.fast_poll = fast_poll
    app.state.metrics_token = settings.metrics_token
    install_error_handlers(app)
    install_docs_ui(app)
    for prefix in ("/v1", "/kling/v1"):
        app.include_router(routes_tasks.router, prefix=prefix)
        app.include_router(routes_account.router, prefix=prefix)
    # OpenAI's Videos API: /v1/videos and /v1/videos/video_... (never a Kling family path).
    app.include_router(openai_router, prefix="/v1")
    # Kling's account route has no /v1: at the root, and under a gateway's own prefix.
    for prefix in ("", "/kling"):
        app.include_router(routes_account.router, prefix=prefix)
    app.include_router(routes_files.router)
    app.include_router(routes_health.router)
    app.include_router(routes_upstream.router)
    app.include_router(routes_metrics.router)
    app.include_router(console_router)
    app.include_router(admin_router)
    # Last: any other path, known or not, authenticates before it is told it does not exist.
    app.include_router(routes_account.fallback)
    app.add_middleware(
        RequestContextMiddleware, max_body_bytes=settings.max_body_bytes,
        body_limits={
            **body_limits(settings.max_body_bytes, settings.max_image_body_bytes),
            # OpenAI's create (`/v1/videos`) carries at most one image, as image2video does.
            "videos": FAMILIES[IMAGE2VIDEO].body_limit(settings.max_body_bytes,
                                                      settings.max_image_body_bytes),
        },
    )
    return app

