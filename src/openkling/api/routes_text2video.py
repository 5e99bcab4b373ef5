"""The Kling text2video routes; the app mounts this router at /v1 and at /kling/v1."""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ValidationError
from starlette.responses import JSONResponse, Response

from openkling.api.deps import BEARER, authenticate, context
from openkling.api.envelope import envelope
from openkling.api.errors import validation_to_kling
from openkling.api.schemas import (
    ERROR_RESPONSES,
    CreatedEnvelope,
    TaskEnvelope,
    TaskListEnvelope,
)
from openkling.core.errors import Code, KlingError
from openkling.core.models import Text2VideoRequest

M = TypeVar("M", bound=BaseModel)

router = APIRouter(tags=["text2video"], responses=ERROR_RESPONSES)


@router.post(
    "/videos/text2video",
    summary="Create a text-to-video task",
    response_model=CreatedEnvelope,
    response_class=JSONResponse,
    openapi_extra={
        **BEARER,
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Text2VideoRequest"}}
            },
        }
    },
)
async def create_task(http_request: Request) -> Response:
    principal = await authenticate(http_request)
    runtime, request_id = context(http_request)
    request = parse_body(await http_request.body(), Text2VideoRequest)
    task = await runtime.service.create(principal, request)
    wire = runtime.service.to_wire(task)
    data = {key: wire[key] for key in ("task_id", "task_status", "task_info", "created_at",
                                       "updated_at")}
    return envelope(data, request_id)


@router.get(
    "/videos/text2video/{task_id}",
    summary="Query one task by task_id or external_task_id",
    response_model=TaskEnvelope,
    response_class=JSONResponse,
    openapi_extra=BEARER,
)
async def get_task(task_id: str, request: Request) -> Response:
    principal = await authenticate(request)
    runtime, request_id = context(request)
    task = await runtime.service.get(principal, task_id)
    return envelope(runtime.service.to_wire(task), request_id)


@router.get(
    "/videos/text2video",
    summary="List tasks (newest first), or query one by external_task_id",
    description="With `external_task_id`, `data` is that single task object; otherwise "
    "`data` is an array of the caller's tasks, newest first.",
    response_model=TaskListEnvelope | TaskEnvelope,
    response_class=JSONResponse,
    openapi_extra=BEARER,
)
async def list_tasks(
    request: Request,
    page_num: Annotated[int, Query(alias="pageNum", ge=1, le=1000)] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=500)] = 30,
    external_task_id: Annotated[str | None, Query(max_length=128)] = None,
) -> Response:
    principal = await authenticate(request)
    runtime, request_id = context(request)
    if external_task_id:
        task = await runtime.service.get_by_external(principal, external_task_id)
        return envelope(runtime.service.to_wire(task), request_id)
    tasks = await runtime.service.list_page(principal, page_num, page_size)
    return envelope([runtime.service.to_wire(t) for t in tasks], request_id)


@router.post(
    "/videos/text2video/{task_id}/cancel",
    summary="Cancel a task (openkling extension)",
    description="A task not yet started ends `failed` at once; a running one stops at its "
    "next checkpoint. Finished tasks are returned unchanged.",
    response_model=TaskEnvelope,
    response_class=JSONResponse,
    openapi_extra=BEARER,
)
async def cancel_task(task_id: str, request: Request) -> Response:
    principal = await authenticate(request)
    runtime, request_id = context(request)
    task = await runtime.service.cancel(principal, task_id)
    return envelope(runtime.service.to_wire(task), request_id)


def parse_body(raw: bytes, model: type[M]) -> M:
    """Parse a JSON object body whatever Content-Type came with it (curl -d sends a form type)."""
    if not raw.strip():
        raise KlingError(Code.INVALID_REQUEST, "a JSON object body is required")
    try:
        value: Any = json.loads(raw, parse_constant=_reject_constant)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise KlingError(Code.INVALID_REQUEST, f"malformed JSON body: {exc}") from exc
    except RecursionError as exc:
        raise KlingError(Code.INVALID_REQUEST, "malformed JSON body: nested too deeply") from exc
    if not isinstance(value, dict):
        raise KlingError(Code.INVALID_REQUEST, "the request body must be a JSON object")
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise validation_to_kling([dict(e) for e in exc.errors()]) from exc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
