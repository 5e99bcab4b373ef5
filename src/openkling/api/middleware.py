"""Pure ASGI middleware (cheap on the hot path): request ids and the request body limit."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openkling.api.envelope import REQUEST_ID_HEADER, error_response, new_request_id
from openkling.core.errors import Code, KlingError
from openkling.errors import OpenKlingError


class RequestContextMiddleware:
    """Gives each request an id (scope state, response header) and refuses oversized bodies
    before anything parses them."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        header_value = request_id.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.lower().encode(), header_value))
                message["headers"] = headers
            await send(message)

        too_large = KlingError(
            Code.INVALID_REQUEST,
            f"request body is larger than {self.max_body_bytes} bytes",
            http_status=413,
        )
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body_bytes:
                await error_response(too_large, request_id)(scope, receive, send_with_id)
                return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(too_large)
            return message

        try:
            await self.app(scope, limited_receive, send_with_id)
        except BodyTooLarge as exc:
            await error_response(exc.error, request_id)(scope, receive, send_with_id)


class BodyTooLarge(OpenKlingError):
    def __init__(self, error: KlingError) -> None:
        super().__init__(error.message)
        self.error = error
