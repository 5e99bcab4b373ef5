"""The poll route without the framework, in front of the FastAPI application.

Through FastAPI's middleware stack, routing and request objects one poll cost ~4x the lookup
itself (see docs/benchmarks.md). `OpenKlingApp.__call__` hands exactly the poll request shape
(GET, no query string) to `answer_poll` here, and everything else, lifespan included, to
FastAPI. Same function, so both paths answer alike (tests/integration/api/test_fastpath.py).
"""

from __future__ import annotations

import re
import time

from starlette.types import Scope, Send

from openkling.api.envelope import REQUEST_ID_HEADER, new_request_id
from openkling.api.middleware import finish_request
from openkling.api.poll import answer_poll
from openkling.api.services import ApiServices
from openkling.core.families import FAMILIES

#: A family path has two or three segments (`videos/text2video`, `images/editing/expand`);
#: bounded, so the match costs what the two-segment one did.
_POLL_PATH = re.compile(r"/(?:kling/)?v1/([a-z]+/[^/]+(?:/[^/]+)?)/([^/]+)")
_SLASHES = re.compile(r"//+")
_JSON = (b"content-type", b"application/json")
_REQUEST_ID = REQUEST_ID_HEADER.lower().encode()
#: The /metrics route label of each family's poll: (official form, gateway form).
_ROUTES = {path: (f"/v1/{path}/{{task_id}}", f"/kling/v1/{path}/{{task_id}}")
           for path in FAMILIES}


def squeeze_slashes(scope: Scope) -> None:
    """Serve `/v1/images/kolors-virtual-try-on//{id}` (the official try-on client's poll) as
    the path with single slashes. The caller tests `"//" in path` first (every request pays
    only that substring test)."""
    scope["path"] = _SLASHES.sub("/", scope["path"])


def poll_key(scope: Scope) -> tuple[str, str] | None:
    """(family, task key) when this request is a plain poll of a known family, else None."""
    if scope["type"] == "http" and scope["method"] == "GET" and not scope["query_string"]:
        match = _POLL_PATH.fullmatch(scope["path"])
        if match is not None and match.group(1) in FAMILIES:
            return match.group(1), match.group(2)
    return None


async def send_poll(services: ApiServices, key: tuple[str, str], scope: Scope,
                    send: Send) -> None:
    started = time.perf_counter()
    request_id = new_request_id()
    authorization = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value.decode("latin-1")
            break
    kind, task_key = key
    answer = await answer_poll(services, authorization, task_key, request_id, kind=kind)
    headers = [_JSON, (_REQUEST_ID, request_id.encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in answer.headers.items()]
    headers.append((b"content-length", str(len(answer.body)).encode()))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})
    path = scope["path"]
    routes = _ROUTES.get(kind) or (f"/v1/{kind}/{{task_id}}", f"/kling/v1/{kind}/{{task_id}}")
    route = routes[1 if path.startswith("/kling/") else 0]
    finish_request("GET", route, path, answer.status, started, request_id, answer.account)
