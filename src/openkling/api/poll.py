"""The poll answer: `GET /v1|/kling/v1/<family>/{id}`, one function for both paths.

Clients poll this route far more than all others together, so the application answers it
before FastAPI's middleware and routing (`api/fastpath.py`); the FastAPI route answers the
same request (OpenAPI, a query string) through this same function. Everything a poll does —
authentication, rate limit, lookup, envelope, error logging — happens here once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from openkling.api.envelope import error_body, success_body_raw
from openkling.api.failures import request_failures, unexpected_to_kling
from openkling.api.services import ApiServices
from openkling.core.errors import KlingError
from openkling.core.families import TEXT2VIDEO

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PollAnswer:
    status: int
    body: bytes
    #: Headers besides the content type and the request id (e.g. Retry-After on 429).
    headers: dict[str, str] = field(default_factory=dict)
    #: Who asked (for the access line), when known.
    account: str | None = None


async def answer_poll(
    services: ApiServices, authorization: str | None, key: str, request_id: str, *,
    kind: str = TEXT2VIDEO,
) -> PollAnswer:
    account = None
    try:
        principal = await services.auth.authenticate(authorization)
        account = principal.account_name
        await services.limiter.hit(principal.account_id)
        task = await services.tasks.get(principal, key, kind)
        return PollAnswer(200, success_body_raw(services.tasks.wire_json(task), request_id),
                          account=account)
    except KlingError as error:
        return PollAnswer(error.http_status, error_body(error, request_id), error.headers,
                          account)
    except Exception as exc:
        request_failures.failed(exc)  # a database outage must not log a traceback a poll
        failure = unexpected_to_kling(exc)
        return PollAnswer(failure.http_status, error_body(failure, request_id),
                          failure.headers, account)
