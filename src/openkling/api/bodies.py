"""Request bodies as FastAPI parameters (so OpenAPI is generated), read the way Kling reads them.

Two differences from FastAPI's own body reading, both kept from the hand-written parser this
replaces: the body is JSON whatever Content-Type came with it (`curl -d` sends
`application/x-www-form-urlencoded`; FastAPI would validate the raw bytes and answer 1200),
and NaN / Infinity are not JSON (Python's json module accepts them). Routes opt in with
`APIRouter(route_class=JsonBodyRoute)`; validation failures become 1200/1201 in `errors.py`.

A body nested deeper than `MAX_JSON_DEPTH` is refused (400 / 1200). The limit is ours, not the
interpreter's: Python's parser stops at its recursion limit, which depends on how deep the call
stack already is, so without it the exact depth refused would move with the code around it.
Kling's bodies nest four levels at most.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope

_JSON_TYPE = (b"content-type", b"application/json")
#: The deepest nesting of arrays and objects a body may have (`[]` is depth 1).
MAX_JSON_DEPTH = 100


class JsonBodyRequest(Request):
    def __init__(self, scope: Scope, receive: Receive) -> None:
        super().__init__(scope, receive)
        raw = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
        self._headers = Headers(raw=[*raw, _JSON_TYPE])

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = json.loads(body, parse_constant=_reject_constant)
            except UnicodeDecodeError as exc:
                raise json.JSONDecodeError(f"not UTF-8 ({exc.reason})", "", 0) from exc
            except RecursionError as exc:  # thousands of nested arrays or objects
                raise _too_deep() from exc
            if _depth(self._json) > MAX_JSON_DEPTH:
                raise _too_deep()
        return self._json


def _too_deep() -> json.JSONDecodeError:
    return json.JSONDecodeError(f"nested too deeply (more than {MAX_JSON_DEPTH} levels)", "", 0)


def _depth(value: Any) -> int:
    """How deeply arrays and objects nest in a parsed body, without recursion."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, level = pending.pop()
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            pending.extend((child, level + 1) for child in children
                           if isinstance(child, dict | list))
    return deepest


class JsonBodyRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_body = self.body_field is not None

        async def handle(request: Request) -> Response:
            wrapped = JsonBodyRequest(request.scope, request.receive)
            if takes_body:
                # Read here, outside FastAPI's body parsing (which turns every exception into
                # a 400), so that the body limit's BodyTooLarge reaches its middleware: 413.
                await wrapped.body()
            return await handler(wrapped)

        return handle


def _reject_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not valid JSON", "", 0)
