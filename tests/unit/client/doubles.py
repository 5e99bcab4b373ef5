"""A test double for the SDK's unit tests: an in-process Kling server that records requests.

`RecordingServerDouble` is an `httpx.MockTransport`: the client sends its real requests to it
and it answers with a fixed Kling envelope, so tests can read exactly what the client sent
without a server process.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

SUBMITTED = {"task_id": "1", "task_status": "submitted", "task_info": {},
             "created_at": 1, "updated_at": 1}


class RecordingServerDouble(httpx.MockTransport):
    def __init__(self, data: Any = None, *, by_path: dict[str, Any] | None = None) -> None:
        """Answer `data` (a submitted task by default), or `by_path[path]` for those paths."""
        self.requests: list[httpx.Request] = []
        self.data = SUBMITTED if data is None else data
        self.by_path = by_path or {}
        super().__init__(self._answer)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        data = self.by_path.get(request.url.path, self.data)
        return httpx.Response(200, json={"code": 0, "message": "SUCCEED", "request_id": "r",
                                         "data": data})

    @property
    def body(self) -> dict[str, Any]:
        """The JSON body of the one request received."""
        [request] = self.requests
        body = json.loads(request.content)
        assert isinstance(body, dict)
        return body
