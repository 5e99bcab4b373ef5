"""The web console: its static files at /console/, and the few tenant-scoped reads it needs that
the Kling API has no route for (who am I, a filtered task list, one task's request and callback
history). Everything else the console does goes through the Kling routes themselves.

Every JSON route authenticates exactly like the Kling routes (Bearer API key or JWT) and answers
in the Kling envelope; a task of another account is a 404 like a missing one.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Security
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response

from openkling import __version__
from openkling.api.deps import BEARER_SCHEME, authenticate, context
from openkling.api.envelope import envelope
from openkling.api.schemas import ERROR_RESPONSES
from openkling.api.services import ApiServices
from openkling.config import Settings
from openkling.core.errors import KlingError
from openkling.core.models import MAX_PROMPT
from openkling.core.registry import ModelRegistry
from openkling.core.wire import task_to_wire
from openkling.store.admin import AdminStore
from openkling.store.console import ConsoleStore
from openkling.store.records import TaskRecord
from openkling.vocabulary import UNFINISHED, TaskStatus

router = APIRouter()
pages = APIRouter()
api = APIRouter(prefix="/console/api", tags=["console"], responses=ERROR_RESPONSES,
                dependencies=[Security(BEARER_SCHEME)])

#: The statuses a task list may be filtered by (besides "unfinished").
STATUSES: tuple[str, ...] = tuple(status.value for status in TaskStatus)
STATIC = resources.files("openkling.console") / "static"
_TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript",
          ".svg": "image/svg+xml", ".json": "application/json"}
# The console loads nothing from elsewhere; the policy makes sure of it.
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob: http: https:; "
    "media-src 'self' blob: http: https:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@pages.get("/console", include_in_schema=False)
async def console_root() -> Response:
    return RedirectResponse("/console/", status_code=308)


@pages.get("/console/", include_in_schema=False)
async def console_index() -> Response:
    return _static("index.html")


@pages.get("/console/{name:path}", include_in_schema=False)
async def console_file(name: str) -> Response:
    # Unknown paths under /console/ are client-side pages (the console routes by #fragment,
    # so this only happens for a mistyped address): give them the app, it shows a 404 page.
    if name.startswith("api/"):
        raise KlingError.not_found("console API route")
    return _static(name) if _is_asset(name) else _static("index.html")


def _is_asset(name: str) -> bool:
    parts = name.split("/")
    if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        return False
    return STATIC.joinpath(*parts).is_file()


def _static(name: str) -> Response:
    resource = STATIC.joinpath(*name.split("/"))
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    with resources.as_file(resource) as path:
        return FileResponse(path, media_type=_TYPES.get(suffix, "application/octet-stream"),
                            headers=_HEADERS)


@api.get("/me", summary="The caller's account, and what the create form may offer",
         response_class=JSONResponse)
async def me(request: Request) -> Response:
    principal = await authenticate(request)
    runtime, request_id = context(request)
    models = []
    for name in _models(runtime).names:
        resolved = _models(runtime).resolve(name)
        models.append({"name": name, "durations": [str(d) for d in resolved.durations]})
    data = {
        "account": principal.account_name,
        "credential_id": principal.credential_id,
        "is_admin": await AdminStore(runtime.db).is_admin(principal.account_id),
        "version": __version__,
        "default_model": _models(runtime).default_model,
        "models": models,
        "limits": {"prompt": MAX_PROMPT, "max_unfinished_tasks":
                   _settings(runtime).max_unfinished_tasks},
    }
    return envelope(data, request_id)


@api.get(
    "/tasks",
    summary="The caller's tasks of every family, newest first, optionally by status",
    description="`status` is one of submitted, processing, succeed, failed, or `unfinished` "
    "(submitted and processing). Each item is the Kling task object plus `family`, "
    "`model_name` and `prompt`.",
    response_class=JSONResponse,
)
async def list_tasks(
    request: Request,
    page_num: Annotated[int, Query(alias="pageNum", ge=1, le=1000)] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=500)] = 30,
    status: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    principal = await authenticate(request)
    runtime, request_id = context(request)
    statuses: tuple[str, ...] | None
    if not status:
        statuses = None
    elif status == "unfinished":
        statuses = UNFINISHED
    elif status in STATUSES:
        statuses = (status,)
    else:
        raise KlingError.invalid(
            "status", f"must be one of {', '.join(STATUSES)} or unfinished (got {status!r})"
        )
    tasks = await ConsoleStore(runtime.db).list_tasks(
        principal.account_id, statuses=statuses, offset=(page_num - 1) * page_size,
        limit=page_size,
    )
    return envelope([_summary(runtime, t) for t in tasks], request_id)


@api.get(
    "/tasks/{task_id}",
    summary="One task with its stored request and its callback history",
    response_class=JSONResponse,
)
async def task_detail(task_id: str, request: Request) -> Response:
    principal = await authenticate(request)
    runtime, request_id = context(request)
    store = ConsoleStore(runtime.db)
    task = (await store.get_task(principal.account_id, task_id)
            if _TASK_ID.fullmatch(task_id) else None)
    if task is None:
        raise KlingError.not_found()
    deliveries = await store.deliveries_of(principal.account_id, task.id)
    data = {
        **_summary(runtime, task),
        "request": task.request,
        "callback_url": task.callback_url,
        "callbacks": [
            {"id": d.id, "url": d.url, "task_status": d.task_status, "state": d.state,
             "attempts": d.attempts, "created_at": d.created_at, "finished_at": d.finished_at,
             "last_error": d.last_error}
            for d in deliveries
        ],
    }
    return envelope(data, request_id)


#: Task ids: Kling's digits, or an OpenAI-created video's `video_<hex>` (api/openai).
_TASK_ID = re.compile(r"[0-9]{1,24}|video_[0-9a-f]{1,18}")


def _summary(runtime: ApiServices, task: TaskRecord) -> dict[str, Any]:
    wire = task_to_wire(task, runtime.storage.url_for)
    return {**wire, "family": task.kind, "model_name": task.model_name,
            "prompt": task.request.get("prompt", "")}


# The API first: the catch-all page route would otherwise answer /console/api/... paths.
router.include_router(api)
router.include_router(pages)


def _models(services: ApiServices) -> ModelRegistry:
    assert services.models is not None, "build_api always sets the model registry"
    return services.models


def _settings(services: ApiServices) -> Settings:
    assert services.settings is not None, "ApiServices.from_parts always sets the settings"
    return services.settings
