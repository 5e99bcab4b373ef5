"""Test doubles for the client tests: a fault-injecting proxy in front of a real server.

`FaultInjectingProxyDouble` listens on a loopback port and forwards every request to an
upstream openkling server, except that it first answers with the faults it was told to inject
(e.g. 429 with `Retry-After`, or 503) a set number of times. It also records what it saw, so
tests can check the retries and the tokens the client sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
               "content-encoding"}


@dataclass
class Fault:
    """Answer `times` matching requests with `status` (and a Kling envelope when `code`).

    With `forward`, the request still reaches the server first and only its reply is lost,
    like a gateway timing out after the upstream did the work.
    """

    status: int
    times: int
    code: int | None = None
    retry_after: str | None = None
    path_contains: str = ""
    body: bytes | None = None
    forward: bool = False


@dataclass
class Seen:
    method: str
    path: str
    authorization: str | None
    injected: bool


@dataclass
class _State:
    upstream: str
    faults: list[Fault] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.path_contains in path:
                    fault.times -= 1
                    return fault
        return None


class FaultInjectingProxyDouble:
    """A loopback proxy that injects HTTP failures before passing requests to `upstream`."""

    def __init__(self, upstream: str) -> None:
        self._state = _State(upstream.rstrip("/"))
        state = self._state

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: pytest shows failures, not every request."""

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = state.take_fault(self.path)
                with state.lock:
                    state.seen.append(Seen(self.command, self.path,
                                           self.headers.get("authorization"), fault is not None))
                if fault is not None and not fault.forward:
                    self._answer_fault(fault)
                    return
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in _HOP_BY_HOP}
                with httpx.Client(timeout=30) as client:
                    reply = client.request(self.command, state.upstream + self.path,
                                           content=body, headers=headers)
                if fault is not None:
                    self._answer_fault(fault)
                    return
                self.send_response(reply.status_code)
                for key, value in reply.headers.items():
                    if key.lower() not in _HOP_BY_HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply.content)))
                self.end_headers()
                self.wfile.write(reply.content)

            def _answer_fault(self, fault: Fault) -> None:
                if fault.body is not None:
                    payload = fault.body
                    content_type = "text/plain"
                else:
                    payload = json.dumps({
                        "code": fault.code, "message": f"injected {fault.status}",
                        "request_id": "injected", "data": None,
                    }).encode()
                    content_type = "application/json"
                self.send_response(fault.status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                if fault.retry_after is not None:
                    self.send_header("Retry-After", fault.retry_after)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _handle
            do_POST = _handle
            do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def seen(self) -> list[Seen]:
        with self._state.lock:
            return list(self._state.seen)

    def inject(self, fault: Fault) -> None:
        with self._state.lock:
            self._state.faults.append(fault)

    def remaining(self) -> int:
        with self._state.lock:
            return sum(fault.times for fault in self._state.faults)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def fault_proxy(upstream: str) -> Iterator[FaultInjectingProxyDouble]:
    proxy = FaultInjectingProxyDouble(upstream)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
