"""The Kling text2video routes; the app mounts this router at /v1 and at /kling/v1."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Security
from starlette.responses import JSONResponse, Response

from openkling.api.bodies import JsonBodyRoute
from openkling.api.deps import BEARER_SCHEME, authenticate, context
from openkling.api.envelope import envelope
from openkling.api.poll import answer_poll
from openkling.api.schemas import (
    ERROR_RESPONSES,
    CreatedEnvelope,
    TaskEnvelope,
    TaskListEnvelope,
)
from openkling.core.auth import Principal
from openkling.core.models import Text2VideoRequest

router = APIRouter(tags=["text2video"], responses=ERROR_RESPONSES, route_class=JsonBodyRoute,
                   dependencies=[Security(BEARER_SCHEME)])


@router.post(
    "/videos/text2video",
    summary="Create a text-to-video task",
    response_model=CreatedEnvelope,
    response_class=JSONResponse,
)
async def create_task(
    body: Text2VideoRequest,
    principal: Annotated[Principal, Depends(authenticate)],
    http_request: Request,
) -> Response:
    # A dependency, so that the caller is known before the body is validated (only a body
    # that is not JSON at all is refused before authentication).
    services, request_id = context(http_request)
    task = await services.tasks.create(principal, body)
    wire = services.tasks.to_wire(task)
    data = {key: wire[key] for key in ("task_id", "task_status", "task_info", "created_at",
                                       "updated_at")}
    return envelope(data, request_id)


@router.get(
    "/videos/text2video/{task_id}",
    summary="Query one task by task_id or external_task_id",
    response_model=TaskEnvelope,
    response_class=JSONResponse,
)
async def get_task(task_id: str, request: Request) -> Response:
    services, request_id = context(request)
    answer = await answer_poll(services, request.headers.get("authorization"), task_id,
                               request_id)
    return Response(answer.body, status_code=answer.status, headers=answer.headers,
                    media_type="application/json")


@router.get(
    "/videos/text2video",
    summary="List tasks (newest first), or query one by external_task_id",
    description="With `external_task_id`, `data` is that single task object; otherwise "
    "`data` is an array of the caller's tasks, newest first.",
    response_model=TaskListEnvelope | TaskEnvelope,
    response_class=JSONResponse,
)
async def list_tasks(
    request: Request,
    page_num: Annotated[int, Query(alias="pageNum", ge=1, le=1000)] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=500)] = 30,
    external_task_id: Annotated[str | None, Query(max_length=128)] = None,
) -> Response:
    principal = await authenticate(request)
    services, request_id = context(request)
    if external_task_id:
        task = await services.tasks.get_by_external(principal, external_task_id)
        return envelope(services.tasks.to_wire(task), request_id)
    tasks = await services.tasks.list_page(principal, page_num, page_size)
    return envelope([services.tasks.to_wire(t) for t in tasks], request_id)


@router.post(
    "/videos/text2video/{task_id}/cancel",
    summary="Cancel a task (openkling extension)",
    description="A task not yet started ends `failed` at once; a running one stops at its "
    "next checkpoint. Finished tasks are returned unchanged.",
    response_model=TaskEnvelope,
    response_class=JSONResponse,
)
async def cancel_task(task_id: str, request: Request) -> Response:
    principal = await authenticate(request)
    services, request_id = context(request)
    task = await services.tasks.cancel(principal, task_id)
    return envelope(services.tasks.to_wire(task), request_id)


