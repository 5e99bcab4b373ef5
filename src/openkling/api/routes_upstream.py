"""Callbacks from an upstream Kling account to the relay: `POST /upstream/kling/{task}/{token}`.

Kling signs nothing, so the callback URL itself carries the proof: an unguessable per-task
token the relay stored before it registered the URL. A valid callback only records an event;
the worker tracking the task re-queries the upstream, so a forged body could at most cause
one extra status query — and without the token there is nothing to forge.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from openkling.api.deps import ServicesDep
from openkling.core.errors import KlingError
from openkling.store import relay_events

router = APIRouter(tags=["upstream"], include_in_schema=False)

_MAX_BODY = 64 * 1024


@router.post("/upstream/kling/{task_id}/{token}")
async def upstream_callback(task_id: str, token: str, request: Request,
                            services: ServicesDep) -> JSONResponse:
    if len(task_id) > 24 or not task_id.isdigit() or len(token) > 128:
        raise KlingError.not_found()
    body = await request.body()
    if len(body) > _MAX_BODY:
        raise KlingError.invalid("body", "too large")
    async with services.db.read() as conn:
        expected = await relay_events.callback_token(conn, task_id)
    if not relay_events.token_matches(expected, token):
        raise KlingError.not_found()
    try:
        payload: Any = json.loads(body) if body else {}
    except (ValueError, RecursionError):
        payload = {"unparsed": body.decode("utf-8", "replace")[:1000]}
    async with services.db.write() as conn:
        await relay_events.record(conn, task_id, payload)
    return JSONResponse({"code": 0, "message": "SUCCEED"})
