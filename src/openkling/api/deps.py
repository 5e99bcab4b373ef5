"""Per-request helpers: the API's services, the request id, and the caller.

The Kling routes call `authenticate` themselves instead of declaring FastAPI dependencies: on
the poll path, dependency solving cost more than the task lookup itself. Their OpenAPI entries
declare the bearer scheme explicitly (`BEARER`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from openkling.api.errors import request_id_of
from openkling.api.services import ApiServices
from openkling.core.auth import Principal

SECURITY_SCHEME: dict[str, Any] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "An openkling API key, or a Kling-style HS256 JWT signed with your "
        "secret key (iss = access key).",
    }
}
#: `openapi_extra` for routes that require the bearer token.
BEARER: dict[str, Any] = {"security": [{"bearer": []}]}


def services_of(request: Request) -> ApiServices:
    services: ApiServices = request.app.state.services
    return services


def context(request: Request) -> tuple[ApiServices, str]:
    return services_of(request), request_id_of(request)


async def authenticate(request: Request) -> Principal:
    services = services_of(request)
    principal = await services.auth.authenticate(request.headers.get("authorization"))
    services.limiter.hit(principal.account_id)
    return principal


# `async def` on purpose: FastAPI runs plain `def` dependencies in a thread pool.
async def get_services(request: Request) -> ApiServices:
    return services_of(request)


ServicesDep = Annotated[ApiServices, Depends(get_services)]
