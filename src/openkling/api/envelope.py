"""The Kling envelope around every JSON response, and request ids."""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.responses import Response

from openkling.core.errors import KlingError

REQUEST_ID_HEADER = "X-Request-Id"


def new_request_id() -> str:
    return str(uuid.uuid4())


def success_body(data: Any, request_id: str) -> bytes:
    body = {"code": 0, "message": "SUCCEED", "request_id": request_id, "data": data}
    return _dumps(body)


def error_body(error: KlingError, request_id: str) -> bytes:
    return _dumps(error.to_dict(request_id))


def envelope(data: Any, request_id: str, status_code: int = 200) -> Response:
    return Response(success_body(data, request_id), status_code=status_code,
                    media_type="application/json")


def error_response(error: KlingError, request_id: str) -> Response:
    return Response(error_body(error, request_id), status_code=error.http_status,
                    media_type="application/json", headers=error.headers)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
