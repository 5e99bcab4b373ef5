"""uvicorn's httptools protocol with a limit on the request head (request line + headers).

httptools buffers a header of any size: a client sending a 50 MB header kept the event loop
busy for seconds. This protocol answers 431 with a Kling envelope and closes the connection
once the head grows past the limit, before the application sees the request.
"""

from __future__ import annotations

import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from openkling.api.envelope import new_request_id
from openkling.core.errors import Code

#: asyncio reads at most this much at once: the chunk in which a request begins may carry
#: that much of the previous request too, so the streaming check starts after it.
_READ_CHUNK = 256 * 1024


class _BoundedHeadProtocol(HttpToolsProtocol):
    max_head_bytes = 16 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._rejected = False

    def data_received(self, data: bytes) -> None:
        if self._rejected:
            return
        super().data_received(data)
        if self._rejected:
            self._send_431()
            return
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes + _READ_CHUNK:
                self._rejected = True
                self._send_431()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.max_head_bytes:
            self._rejected = True  # answered once the parser returns
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._rejected:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._rejected:
            super().on_message_complete()
        self._in_head = True
        self._head_bytes = 0

    def _send_431(self) -> None:
        if self.transport.is_closing():
            return
        request_id = new_request_id()
        body = json.dumps({
            "code": int(Code.INVALID_REQUEST),
            "message": f"request headers are larger than {self.max_head_bytes} bytes",
            "request_id": request_id, "data": None,
        }).encode()
        head = (
            "HTTP/1.1 431 Request Header Fields Too Large\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            f"x-request-id: {request_id}\r\n"
            "connection: close\r\n\r\n"
        ).encode()
        self.transport.write(head + body)
        self.transport.close()


def bounded_http_protocol(max_head_bytes: int) -> type[HttpToolsProtocol]:
    """The protocol class to give uvicorn's `http=` option."""
    return type("BoundedHeadProtocol", (_BoundedHeadProtocol,),
                {"max_head_bytes": max_head_bytes})
