"""Per-request helpers: the runtime, the request id, and the caller (authenticated, rate limited).

The Kling routes call `authenticate` themselves instead of declaring FastAPI dependencies: on
the poll path, dependency solving cost more than the task lookup itself. Their OpenAPI entries
declare the bearer scheme explicitly (`BEARER`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from openkling.api.errors import request_id_of
from openkling.api.limits import RateLimiter
from openkling.core.auth import Principal
from openkling.observability.logs import account_var
from openkling.runtime import Runtime

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


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def context(request: Request) -> tuple[Runtime, str]:
    return runtime_of(request), request_id_of(request)


async def authenticate(request: Request) -> Principal:
    principal = await runtime_of(request).auth.authenticate(request.headers.get("authorization"))
    account_var.set(principal.account_name)  # for log lines and the access line
    limiter: RateLimiter = request.app.state.rate_limiter
    limiter.hit(principal.account_id)
    return principal


# `async def` on purpose: FastAPI runs plain `def` dependencies in a thread pool.
async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
