"""The ceiling: a raw ASGI app that answers every GET with the same task JSON as openkling.

Run under the same uvicorn settings as openkling, it measures what a Python server can do
on this machine with no framework, no auth and no database.
"""

from __future__ import annotations

import json
import os
from typing import Any

BODY = json.dumps(json.loads(os.environ.get("BARE_BODY", '{"code":0}'))).encode()
HEADERS = [(b"content-type", b"application/json"),
           (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
