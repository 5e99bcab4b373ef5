"""`GET /v1/account/costs` (Kling's resource packs) and the fallback for unknown routes.

SDKs call /account/costs to check credentials, so it authenticates like every route; and
every other path authenticates before it answers 404 / 1202, so a wrong key is never told
"valid" by a route that does not exist.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Security
from starlette.responses import JSONResponse, Response

from openkling.api.deps import BEARER_SCHEME, authenticate, context
from openkling.api.envelope import envelope
from openkling.api.errors import FALLBACK_ROUTE, FALLBACK_ROUTERS, allowed_methods
from openkling.api.schemas import ERROR_RESPONSES
from openkling.clock import now_ms
from openkling.core.auth import Principal
from openkling.core.costs import costs_to_wire
from openkling.core.errors import Code, KlingError
from openkling.store.quotas import QuotaStore

router = APIRouter(tags=["account"], responses=ERROR_RESPONSES,
                   dependencies=[Security(BEARER_SCHEME)])


@router.get(
    "/account/costs",
    summary="The account's resource packs (quotas) and what is left of them",
    description="Packs whose validity overlaps [start_time, end_time] (ms); an unmetered "
    "account has none.",
    response_class=JSONResponse,
)
async def account_costs(
    request: Request,
    principal: Annotated[Principal, Depends(authenticate)],
    start_time: Annotated[int | None, Query(ge=0)] = None,
    end_time: Annotated[int | None, Query(ge=0)] = None,
    resource_pack_name: Annotated[str | None, Query(max_length=128)] = None,
) -> Response:
    services, request_id = context(request)
    if start_time is not None and end_time is not None and end_time < start_time:
        raise KlingError.invalid("end_time", "must not be before start_time")
    packs = await QuotaStore(services.db).packs(principal.account_id)
    return envelope(costs_to_wire(packs, now_ms(), start_time=start_time, end_time=end_time,
                                  name=resource_pack_name or None), request_id)


fallback = APIRouter()
FALLBACK_ROUTERS.append(fallback)


@fallback.api_route(
    "/{path:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
    include_in_schema=False,
    name=FALLBACK_ROUTE,
)
async def unknown_route(path: str, request: Request) -> Response:
    await authenticate(request)
    allowed = allowed_methods(request)
    if allowed:  # the path exists, with other methods
        raise KlingError(
            Code.METHOD_NOT_VALID,
            f"{request.method} {request.url.path} is not a valid method for this path",
            http_status=405, headers={"Allow": allowed},
        )
    raise KlingError(
        Code.METHOD_NOT_VALID,
        f"{request.method} {request.url.path} is not a valid method for this path",
    )
