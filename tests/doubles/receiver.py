"""CallbackReceiverDouble: a loopback HTTP server that records callback POSTs.

It can answer the first `fail_first` requests with HTTP 500, to exercise retries.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class CallbackReceiverDouble:
    def __init__(self, port: int = 0, fail_first: int = 0) -> None:
        self.received: list[Received] = []
        self.failures_left = fail_first
        self.attempts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.attempts += 1
                if receiver.failures_left > 0:
                    receiver.failures_left -= 1
                    self.send_response(500)
                else:
                    receiver.received.append(Received(dict(self.headers.items()), body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> CallbackReceiverDouble:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"got {len(self.received)} callbacks, wanted {count}")
            time.sleep(0.05)
        return self.received

    def wait_for_task_status(self, status: str, timeout: float = 30) -> list[Received]:
        """Everything received once a callback saying `status` has arrived (callbacks are
        sent after the task's row changes, so a poll can see a status before its callback)."""
        deadline = time.monotonic() + timeout
        while not any(r.json.get("task_status") == status for r in self.received):
            if time.monotonic() > deadline:
                raise AssertionError(f"no {status!r} callback in {len(self.received)} received")
            time.sleep(0.05)
        return self.received
