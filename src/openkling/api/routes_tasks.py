"""The Kling task routes of every family (core/families.py), mounted at /v1 and /kling/v1.

One set of handlers serves all families: `family_router` binds them to a family's path and
request model, so adding a family adds no route code. No `from __future__ import
annotations` here: FastAPI reads the body's model from each handler's live annotations.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Security
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
from openkling.core.families import FAMILIES, Family

_CREATED_FIELDS = ("task_id", "task_status", "task_info", "created_at", "updated_at")


def family_router(family: Family) -> APIRouter:
    router = APIRouter(tags=[family.path], responses=ERROR_RESPONSES,
                       route_class=JsonBodyRoute, dependencies=[Security(BEARER_SCHEME)])
    path = f"/{family.path}"
    slug = family.path.replace("/", "_").replace("-", "_")
    body_model: Any = family.request

    async def create_task(
        body: body_model,
        principal: Annotated[Principal, Depends(authenticate)],
        http_request: Request,
    ) -> Response:
        # A dependency, so that the caller is known before the body is validated (only a
        # body that is not JSON at all is refused before authentication).
        services, request_id = context(http_request)
        task = await services.tasks.create(principal, body, family)
        wire = services.tasks.to_wire(task)
        return envelope({key: wire[key] for key in _CREATED_FIELDS}, request_id)

    async def get_task(task_id: str, request: Request) -> Response:
        services, request_id = context(request)
        answer = await answer_poll(services, request.headers.get("authorization"), task_id,
                                   request_id, kind=family.kind)
        return Response(answer.body, status_code=answer.status, headers=answer.headers,
                        media_type="application/json")

    async def list_tasks(
        request: Request,
        page_num: Annotated[int, Query(alias="pageNum", ge=1, le=1000)] = 1,
        page_size: Annotated[int, Query(alias="pageSize", ge=1, le=500)] = 30,
        external_task_id: Annotated[str | None, Query(max_length=128)] = None,
    ) -> Response:
        principal = await authenticate(request)
        services, request_id = context(request)
        if external_task_id:
            task = await services.tasks.get_by_external(principal, external_task_id,
                                                        family.kind)
            return envelope(services.tasks.to_wire(task), request_id)
        tasks = await services.tasks.list_page(principal, page_num, page_size, family.kind)
        return envelope([services.tasks.to_wire(t) for t in tasks], request_id)

    async def cancel_task(task_id: str, request: Request) -> Response:
        principal = await authenticate(request)
        services, request_id = context(request)
        task = await services.tasks.cancel(principal, task_id, family.kind)
        return envelope(services.tasks.to_wire(task), request_id)

    router.add_api_route(path, create_task, methods=["POST"], name=f"create_{slug}",
                         summary=f"Create a {family.path} task",
                         response_model=CreatedEnvelope, response_class=JSONResponse)
    router.add_api_route(f"{path}/{{task_id}}", get_task, methods=["GET"],
                         name=f"get_{slug}",
                         summary="Query one task by task_id or external_task_id",
                         response_model=TaskEnvelope, response_class=JSONResponse)
    router.add_api_route(path, list_tasks, methods=["GET"], name=f"list_{slug}",
                         summary="List tasks (newest first), or query one by "
                         "external_task_id",
                         description="With `external_task_id`, `data` is that single task "
                         "object; otherwise `data` is an array of the caller's tasks of "
                         "this family, newest first.",
                         response_model=TaskListEnvelope | TaskEnvelope,
                         response_class=JSONResponse)
    router.add_api_route(f"{path}/{{task_id}}/cancel", cancel_task, methods=["POST"],
                         name=f"cancel_{slug}", summary="Cancel a task (openkling extension)",
                         description="A task not yet started ends `failed` at once; a running "
                         "one stops at its next checkpoint. Finished tasks are returned "
                         "unchanged.",
                         response_model=TaskEnvelope, response_class=JSONResponse)
    for action in family.actions:
        router.add_api_route(f"{path}/{action}", _action_route(family, action),
                             methods=["POST"], name=f"{slug}_{action.replace('-', '_')}",
                             summary=f"{action} ({family.path}; answered at once, not a task)",
                             response_class=JSONResponse)
    return router


def _action_route(family: Family, action: str) -> Any:
    """`POST <family>/<action>`: an immediate call forwarded to the family's upstream."""

    async def call_action(
        body: Annotated[dict[str, Any], Body()],
        principal: Annotated[Principal, Depends(authenticate)],
        request: Request,
    ) -> Response:
        services, request_id = context(request)
        data = await services.tasks.forward(principal, family, action, body)
        return envelope(data, request_id)

    return call_action


#: Every family's routes, in one router the app mounts under both prefixes.
router = APIRouter()
for _family in FAMILIES.values():
    router.include_router(family_router(_family))
