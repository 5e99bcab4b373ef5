"""Per-request helpers: the API's services, the request id, and the caller.

The poll is answered by `api/poll.py` without FastAPI's dependency solving (on that path it
cost more than the task lookup itself); the other Kling routes call `authenticate` directly or
as a dependency.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from openkling.api.errors import request_id_of
from openkling.api.services import ApiServices
from openkling.core.auth import Principal
from openkling.observability.logs import account_var

#: Declares the bearer scheme in OpenAPI for the routes that list it in `dependencies`; it
#: checks nothing (`authenticate` does), so a missing or foreign header passes through it.
BEARER_SCHEME = HTTPBearer(
    scheme_name="bearer",
    description="An openkling API key, or a Kling-style HS256 JWT signed with your secret key "
    "(iss = access key).",
    auto_error=False,
)


def services_of(request: Request) -> ApiServices:
    services: ApiServices = request.app.state.services
    return services


def context(request: Request) -> tuple[ApiServices, str]:
    return services_of(request), request_id_of(request)


async def authenticate(request: Request) -> Principal:
    services = services_of(request)
    principal = await services.auth.authenticate(request.headers.get("authorization"))
    account_var.set(principal.account_name)  # for log lines and the access line
    await services.limiter.hit(principal.account_id)
    return principal


# `async def` on purpose: FastAPI runs plain `def` dependencies in a thread pool.
async def get_services(request: Request) -> ApiServices:
    return services_of(request)


ServicesDep = Annotated[ApiServices, Depends(get_services)]
