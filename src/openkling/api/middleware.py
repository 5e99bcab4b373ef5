"""Pure ASGI middleware (cheap on the hot path): request context, access log and metrics,
the request body limit, and a last line of defence that keeps connections alive after a 500."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openkling.api.envelope import REQUEST_ID_HEADER, error_response, new_request_id
from openkling.api.failures import request_failures, unexpected_to_kling
from openkling.core.errors import Code, KlingError
from openkling.errors import OpenKlingError
from openkling.observability import metrics
from openkling.observability.logs import account_var, log_access, request_id_var

log = logging.getLogger(__name__)

_REQUEST_ID = REQUEST_ID_HEADER.lower().encode()

class RequestMetrics:
    """Per (route, method, status) counter and histogram children, looked up once each."""

    def __init__(self) -> None:
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            labels = (route, method, str(status))
            children = (metrics.HTTP_REQUESTS.labels(*labels),
                        metrics.HTTP_SECONDS.labels(*labels))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


request_metrics = RequestMetrics()


def finish_request(method: str, route: str, path: str, status: int, started: float,
                   request_id: str, account: str | None) -> None:
    """What every answered request leaves behind: metrics, one access line, and the end of
    a failure streak when this one went well."""
    request_metrics.observe(route, method, status, time.perf_counter() - started)
    if status < 500:
        request_failures.succeeded()
    log_access(method, path, status, started, request_id, account)


_PREFIXES = ("/kling/v1", "/v1")


def route_template(scope: Scope) -> str:
    """The matched route's path template with its mount prefix (FastAPI's scope holds the
    router's route, without the prefix it was included under); "unmatched" for none."""
    template = getattr(scope.get("route"), "path_format", None)
    if not template:
        return "unmatched"
    path = str(scope["path"])
    if not path.startswith(template.split("{", 1)[0]):
        for prefix in _PREFIXES:
            if path.startswith(prefix + "/"):
                return prefix + str(template)
    return str(template)


class RequestContextMiddleware:
    """Gives each request an id (context, scope state, response header), refuses oversized
    bodies before anything parses them, and writes the access line and metrics."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int,
                 body_limits: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        #: Family path -> its body limit (families carrying images need more), looked up
        #: under both mount points.
        self.body_limits = {f"{prefix}/{path}": limit
                            for path, limit in (body_limits or {}).items()
                            for prefix in _PREFIXES}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        request_token = request_id_var.set(request_id)
        account_token = account_var.set(None)
        header_value = request_id.encode()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = int(message["status"])
                response_started = True
                headers = list(message.get("headers", []))
                headers.append((_REQUEST_ID, header_value))
                message["headers"] = headers
            await send(message)

        limit = self.body_limits.get(scope["path"], self.max_body_bytes)
        too_large = KlingError(
            Code.INVALID_REQUEST,
            f"request body is larger than {limit} bytes, the limit of this route"
            + (" (Kling takes images up to 10 MB each; send larger ones as URLs)"
               if limit > self.max_body_bytes else ""),
            http_status=413,
        )
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(too_large)
            return message

        try:
            for name, value in scope.get("headers", []):
                if (name == b"content-length" and value.isdigit()
                        and int(value) > limit):
                    await error_response(too_large, request_id)(scope, receive, send_with_id)
                    return
            try:
                await self.app(scope, limited_receive, send_with_id)
            except BodyTooLarge as exc:
                await error_response(exc.error, request_id)(scope, receive, send_with_id)
            except Exception as exc:
                # Starlette answers 500 through our handler and then re-raises; a server
                # seeing the exception would close the connection. Answered is answered.
                if not response_started:
                    request_failures.failed(exc)
                    await error_response(unexpected_to_kling(exc), request_id)(
                        scope, receive, send_with_id)
        finally:
            template = route_template(scope)
            finish_request(scope["method"], template, scope["path"], status, started,
                           request_id, account_var.get())
            request_id_var.reset(request_token)
            account_var.reset(account_token)


class BodyTooLarge(OpenKlingError):
    def __init__(self, error: KlingError) -> None:
        super().__init__(error.message)
        self.error = error
