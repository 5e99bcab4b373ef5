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


def envelope(data: Any, request_id: str, status_code: int = 200) -> Response:
    body = {"code": 0, "message": "SUCCEED", "request_id": request_id, "data": data}
    return Response(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(),
        status_code=status_code,
        media_type="application/json",
    )


def error_response(error: KlingError, request_id: str) -> Response:
    return Response(
        json.dumps(error.to_dict(request_id), separators=(",", ":"), ensure_ascii=False).encode(),
        status_code=error.http_status,
        media_type="application/json",
        headers=error.headers,
    )
