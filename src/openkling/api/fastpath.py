"""The poll route without the framework, in front of the FastAPI application.

Through FastAPI's middleware stack, routing and request objects one poll cost ~4x the lookup
itself (see docs/benchmarks.md). `OpenKlingApp.__call__` hands exactly the poll request shape
(GET, no query string) to `answer_poll` here, and everything else, lifespan included, to
FastAPI. Same function, so both paths answer alike (tests/integration/api/test_fastpath.py).
Under `openkling serve` a poll does not even reach ASGI: the HTTP protocol
(`api/http_protocol.py`) asks `OpenKlingApp.poll_for`, then sends `poll_response`'s answer
itself (tests/integration/api/test_poll_protocol.py).
"""

from __future__ import annotations

import re
import time
from typing import NamedTuple

from starlette.types import Scope, Send

from openkling.api.envelope import REQUEST_ID_HEADER, new_request_id
from openkling.api.middleware import finish_request
from openkling.api.poll import PollAnswer, answer_poll
from openkling.api.services import ApiServices
from openkling.core.families import FAMILIES

_SLASHES = re.compile(r"//+")
_JSON = (b"content-type", b"application/json")
_REQUEST_ID = REQUEST_ID_HEADER.lower().encode()


class Poll(NamedTuple):
    family: str
    task_key: str
    #: The /metrics route label (the FastAPI route's template).
    route: str


#: What precedes a poll's task key -> (family, /metrics route label): a dictionary lookup,
#: where a regular expression cost a poll twice as much.
_POLLS = {f"{prefix}/{path}": (path, f"{prefix}/{path}/{{task_id}}")
          for path in FAMILIES for prefix in ("/v1", "/kling/v1")}


def squeeze_slashes(scope: Scope) -> None:
    """Serve `/v1/images/kolors-virtual-try-on//{id}` (the official try-on client's poll) as
    the path with single slashes. The caller tests `"//" in path` first (every request pays
    only that substring test)."""
    scope["path"] = _SLASHES.sub("/", scope["path"])


def poll_key(scope: Scope) -> Poll | None:
    """The poll this request is when it is a plain poll of a known family, else None."""
    if scope["type"] == "http" and scope["method"] == "GET" and not scope["query_string"]:
        family_path, _, task_key = scope["path"].rpartition("/")
        known = _POLLS.get(family_path)
        if known is not None and task_key:
            return Poll(known[0], task_key, known[1])
    return None


class PollResponse(NamedTuple):
    answer: PollAnswer
    #: All of the answer's headers, content type and length included.
    headers: list[tuple[bytes, bytes]]
    request_id: str
    started: float


async def poll_response(services: ApiServices, poll: Poll, scope: Scope) -> PollResponse:
    """The whole answer to a poll; `finish_poll` once it has been sent."""
    started = time.perf_counter()
    request_id = new_request_id()
    authorization = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value.decode("latin-1")
            break
    answer = await answer_poll(services, authorization, poll.task_key, request_id,
                               kind=poll.family)
    headers = [_JSON, (_REQUEST_ID, request_id.encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in answer.headers.items()]
    headers.append((b"content-length", str(len(answer.body)).encode()))
    return PollResponse(answer, headers, request_id, started)


def finish_poll(poll: Poll, scope: Scope, response: PollResponse) -> None:
    finish_request("GET", poll.route, scope["path"], response.answer.status, response.started,
                   response.request_id, response.answer.account)


async def send_poll(services: ApiServices, poll: Poll, scope: Scope, send: Send) -> None:
    """Answer a poll through ASGI (any server; `api/http_protocol.py` writes it directly)."""
    response = await poll_response(services, poll, scope)
    await send({"type": "http.response.start", "status": response.answer.status,
                "headers": response.headers})
    await send({"type": "http.response.body", "body": response.answer.body})
    finish_poll(poll, scope, response)
