"""The poll route without the framework: `GET /v1|/kling/v1/videos/text2video/{id}`.

Clients poll this route far more than all others together. Through FastAPI's middleware
stack, routing and request objects one poll cost ~4x the lookup itself (see
docs/benchmarks.md), so this outermost ASGI layer answers exactly that request shape with the
same functions the FastAPI route uses (authentication, rate limit, the task service, the
envelope) and hands every other request, lifespan included, to the application. The FastAPI
route stays: it documents the route in OpenAPI and serves `create_app` users in-process.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from openkling.api.envelope import REQUEST_ID_HEADER, error_body, new_request_id, success_body
from openkling.api.limits import RateLimiter
from openkling.core.errors import Code, KlingError
from openkling.runtime import Runtime

log = logging.getLogger(__name__)

_POLL_PATH = re.compile(r"/(?:kling/)?v1/videos/text2video/([^/]+)")
_JSON = (b"content-type", b"application/json")
_REQUEST_ID = REQUEST_ID_HEADER.lower().encode()


class PollFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.state: Any = getattr(app, "state", None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope["query_string"]:
            match = _POLL_PATH.fullmatch(scope["path"])
            if match is not None and self.state is not None:
                await self._poll(match.group(1), scope, send)
                return
        await self.app(scope, receive, send)

    async def _poll(self, key: str, scope: Scope, send: Send) -> None:
        request_id = new_request_id()
        headers: list[tuple[bytes, bytes]] = [_JSON, (_REQUEST_ID, request_id.encode())]
        runtime: Runtime = self.state.runtime
        try:
            authorization = None
            for name, value in scope["headers"]:
                if name == b"authorization":
                    authorization = value.decode("latin-1")
                    break
            principal = await runtime.auth.authenticate(authorization)
            limiter: RateLimiter = self.state.rate_limiter
            await limiter.hit(principal.account_id)
            task = await runtime.service.get(principal, key)
            body, status = success_body(runtime.service.to_wire(task), request_id), 200
        except KlingError as error:
            body, status = error_body(error, request_id), error.http_status
            headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
        except Exception:
            log.exception("unhandled error (request_id=%s)", request_id)
            internal = KlingError(Code.INTERNAL, "internal error")
            body, status = error_body(internal, request_id), internal.http_status
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
