"""The Kling envelope around every JSON response, and request ids."""

from __future__ import annotations

import itertools
import json
import os
import uuid
from typing import Any

from starlette.responses import Response

from openkling.core.errors import KlingError

REQUEST_ID_HEADER = "X-Request-Id"


class _RequestIds:
    """UUID-shaped ids: a random prefix per process and a counter, unique across processes
    (the prefix is drawn again in a forked child) at a fraction of uuid4's cost per request."""

    def __init__(self) -> None:
        self.reseed()
        os.register_at_fork(after_in_child=self.reseed)

    def reseed(self) -> None:
        self.prefix = str(uuid.uuid4())[:24]  # 8-4-4-4- and the version digit: a valid UUID4
        self.counter = itertools.count(int.from_bytes(os.urandom(4), "big"))

    def __call__(self) -> str:
        return f"{self.prefix}{next(self.counter) & 0xFFFF_FFFF_FFFF:012x}"


new_request_id = _RequestIds()


def success_body(data: Any, request_id: str) -> bytes:
    body = {"code": 0, "message": "SUCCEED", "request_id": request_id, "data": data}
    return _dumps(body)


def success_body_raw(data_json: bytes, request_id: str) -> bytes:
    """`success_body` around data already encoded (the poll path's cached task JSON). The
    request id is ours (`new_request_id`: hex digits and dashes), so it needs no escaping."""
    return b"".join((b'{"code":0,"message":"SUCCEED","request_id":"', request_id.encode(),
                     b'","data":', data_json, b"}"))


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
