"""A request that crashes gets a 500 envelope, and the connection it came on keeps serving
(uvicorn closes a connection whose application raised; ours must not raise)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from openkling.api.app import create_app
from openkling.config import Settings
from tests.conftest import PROVIDER_DOUBLE, free_port


class Boom(Exception):
    pass


@pytest.fixture
def port(tmp_path: Path) -> Iterator[int]:
    app = create_app(Settings(data_dir=tmp_path, provider=PROVIDER_DOUBLE,
                              embedded_worker=False))

    async def crash() -> None:
        raise Boom("a bug")

    app.add_api_route("/test-crash", crash)
    app.router.routes.insert(0, app.router.routes.pop())  # ahead of the auth-first fallback
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                           access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(30)


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    return int(head.split(b" ")[1]), body


def test_the_connection_survives_a_500(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /test-crash HTTP/1.1\r\nHost: x\r\n\r\n")
        status, body = read_response(sock)
        assert status == 500
        assert b'"code":5000' in body
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _ = read_response(sock)
        assert status == 200
