"""Request dependencies: the runtime, the caller (authenticated and rate limited), request id."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from openkling.api.errors import request_id_of
from openkling.api.limits import RateLimiter
from openkling.core.auth import Principal
from openkling.runtime import Runtime

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An openkling API key, or a Kling-style HS256 JWT signed with your secret key "
    "(iss = access key).",
)


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def context(request: Request) -> tuple[Runtime, str]:
    """The runtime and request id. Handlers call this instead of declaring two more
    dependencies: on the poll path FastAPI's dependency solving costs more than the lookup."""
    return runtime_of(request), request_id_of(request)


# `async def` on purpose: FastAPI runs plain `def` dependencies in a thread pool.
async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


async def get_principal(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    runtime = runtime_of(request)
    principal = await runtime.auth.authenticate(request.headers.get("authorization"))
    limiter: RateLimiter = request.app.state.rate_limiter
    limiter.hit(principal.account_id)
    return principal


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
