"""OpenAI's error shape on the OpenAI routes: `{"error": {"message", "type", "param",
"code"}}` with the HTTP statuses the SDKs turn into their exception classes (400
BadRequestError, 401 AuthenticationError, 404 NotFoundError, 429 RateLimitError, ...).

Everything below the API fails in Kling's terms (`KlingError`); `OpenAIRoute` translates each
failure of these routes, so a Kling envelope never leaves them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from openkling.api.errors import validation_to_kling
from openkling.api.failures import request_failures, unexpected_to_kling
from openkling.api.middleware import BodyTooLarge
from openkling.core.errors import Code, KlingError
from openkling.errors import OpenKlingError

log = logging.getLogger(__name__)

#: Kling's field names -> the OpenAI parameter they come from.
PARAMS = {"model_name": "model", "duration": "seconds", "aspect_ratio": "size", "mode": "size",
          "image": "input_reference", "image_tail": "input_reference"}

_AUTH = {Code.AUTH_FAILED, Code.AUTH_MISSING, Code.AUTH_INVALID, Code.TOKEN_NOT_YET_VALID,
         Code.TOKEN_EXPIRED}


class OpenAIError(OpenKlingError):
    """A failure the caller sees in OpenAI's shape."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    @classmethod
    def invalid(cls, param: str, message: str) -> OpenAIError:
        return cls(400, f"{param}: {message}", param=param, code="invalid_value")

    @classmethod
    def not_found(cls, video_id: str) -> OpenAIError:
        return cls(404, f"Video with id '{video_id}' not found.", code="not_found")

    def response(self) -> Response:
        """The response (the request id header is added by the middleware, as everywhere)."""
        body = {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}
        return Response(json.dumps(body), status_code=self.status, media_type="application/json",
                        headers=self.headers)


def from_kling(error: KlingError) -> OpenAIError:
    """The OpenAI form of a Kling failure (same status; the field renamed to its parameter)."""
    status, headers = error.http_status, error.headers
    if error.code in _AUTH:
        return OpenAIError(401, error.message, code="invalid_api_key", headers=headers)
    if error.code == Code.QUOTA_EXHAUSTED:
        return OpenAIError(429, error.message, type="insufficient_quota",
                           code="insufficient_quota", headers=headers)
    if status == 429:
        return OpenAIError(429, error.message, type="requests", code="rate_limit_exceeded",
                           headers=headers)
    if error.code == Code.INVALID_PARAMETER:
        field, sep, reason = error.message.partition(": ")
        if sep and field.replace("_", "").replace(".", "").isalnum():
            param = PARAMS.get(field, field)
            return OpenAIError(400, f"{param}: {reason}", param=param, code="invalid_value",
                               headers=headers)
        return OpenAIError(400, error.message, code="invalid_value", headers=headers)
    if status == 404:
        return OpenAIError(404, error.message, code="not_found", headers=headers)
    if status < 500:
        return OpenAIError(status, error.message, headers=headers)
    return OpenAIError(status, error.message, type="server_error",
                       code="unavailable" if status == 503 else "server_error",
                       headers=headers)


def to_openai(exc: Exception) -> OpenAIError:
    if isinstance(exc, OpenAIError):
        return exc
    if isinstance(exc, KlingError):
        return from_kling(exc)
    if isinstance(exc, RequestValidationError):
        return from_kling(validation_to_kling(list(exc.errors())))
    if isinstance(exc, BodyTooLarge):
        return OpenAIError(413, exc.error.message, code="request_too_large")
    if isinstance(exc, HTTPException):
        return OpenAIError(exc.status_code, str(exc.detail))
    request_failures.failed(exc)
    return from_kling(unexpected_to_kling(exc))


Model = TypeVar("Model", bound=BaseModel)


def parse_as(model: type[Model], fields: dict[str, Any]) -> Model:
    """`fields` as `model`, or a 400 naming the first parameter at fault."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        errors: list[dict[str, Any]] = [dict(error) for error in exc.errors()]
        raise from_kling(validation_to_kling(errors)) from None


class OpenAIRoute(APIRoute):
    """Every failure of an OpenAI route leaves in OpenAI's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                return to_openai(exc).response()

        return handle
