"""Polls answered by `openkling serve` below ASGI (`api/http_protocol.py`), on a real server:
the answer is the same HTTP a Kling client gets from any route, in request order when
pipelined, with HTTP/1.0 and keep-alive honoured, counted and logged like any request."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import SHARED_ENV, Credentials, ServerFactory, ServerHandle

pytestmark = pytest.mark.integration

POLL = "/kling/v1/videos/text2video/{}"


@pytest.fixture
def server(server_factory: ServerFactory) -> ServerHandle:
    return server_factory(SHARED_ENV)


@pytest.fixture
def creds(server: ServerHandle) -> Credentials:
    return server.create_key("poller")


@pytest.fixture
def task_id(server: ServerHandle, creds: Credentials) -> str:
    created = httpx.post(f"{server.base_url}/kling/v1/videos/text2video",
                         headers=creds.headers, json={"prompt": "a poll below ASGI"})
    assert created.status_code == 200, created.text
    return str(created.json()["data"]["task_id"])


@pytest.fixture
def sock(server: ServerHandle) -> Iterator[socket.socket]:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        yield connection


def request(path: str, creds: Credentials | None, version: str = "1.1",
            method: str = "GET") -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: test"]
    if creds is not None:
        lines.append(f"Authorization: Bearer {creds.api_key}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock: socket.socket, buffer: bytearray) -> tuple[int, dict[str, str], bytes]:
    """One response off `sock` (what follows it stays in `buffer`)."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {bytes(buffer)!r}"
        buffer += chunk
    head, _, _ = bytes(buffer).partition(b"\r\n\r\n")
    del buffer[:len(head) + 4]
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers["content-length"])
    while len(buffer) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        buffer += chunk
    body = bytes(buffer[:length])
    del buffer[:length]
    return int(status_line.split()[1]), headers, body


def test_a_poll_is_a_complete_kling_answer(server: ServerHandle, creds: Credentials,
                                           task_id: str, sock: socket.socket) -> None:
    sock.sendall(request(POLL.format(task_id), creds))
    status, headers, body = read_response(sock, bytearray())
    assert status == 200
    assert headers["content-type"] == "application/json"
    envelope = json.loads(body)
    assert envelope["code"] == 0 and envelope["message"] == "SUCCEED"
    assert envelope["data"]["task_id"] == task_id
    assert headers["x-request-id"] == envelope["request_id"]
    # What every other route's answer carries too (uvicorn's defaults).
    assert "date" in headers and "server" in headers
    assert "connection" not in headers  # HTTP/1.1: kept alive


def test_pipelined_polls_and_other_requests_are_answered_in_order(
    server: ServerHandle, creds: Credentials, task_id: str, sock: socket.socket,
) -> None:
    sock.sendall(request(POLL.format(task_id), creds) + request("/healthz", None)
                 + request(POLL.format("404404404"), creds) + request(POLL.format(task_id), None)
                 + request(POLL.format(task_id), creds))
    buffer = bytearray()
    answers = [read_response(sock, buffer) for _ in range(5)]
    assert [status for status, _, _ in answers] == [200, 200, 404, 401, 200]
    first, health, missing, anonymous, last = (json.loads(body) for _, _, body in answers)
    assert first["data"]["task_id"] == last["data"]["task_id"] == task_id
    assert "status" in health  # /healthz's own body, between two polls
    assert missing["code"] == 1203  # Kling: resource not found
    assert anonymous["code"] == 1001  # Kling: Authorization header missing
    ids = [headers["x-request-id"] for _, headers, _ in answers]
    assert len(set(ids)) == 5


def test_an_http_1_0_poll_is_answered_and_the_connection_closed(
    server: ServerHandle, creds: Credentials, task_id: str, sock: socket.socket,
) -> None:
    sock.sendall(request(POLL.format(task_id), creds, version="1.0"))
    buffer = bytearray()
    status, headers, body = read_response(sock, buffer)
    assert status == 200 and json.loads(body)["data"]["task_id"] == task_id
    assert headers["connection"] == "close"
    assert sock.recv(65536) == b""  # closed by the server


def test_a_head_request_and_a_query_string_take_the_framework(
    server: ServerHandle, creds: Credentials, task_id: str,
) -> None:
    """Only a plain GET is a poll here; the others get the framework's answer."""
    with_query = httpx.get(f"{server.base_url}{POLL.format(task_id)}?x=1",
                           headers=creds.headers)
    assert with_query.status_code == 200
    assert with_query.json()["data"]["task_id"] == task_id
    head = httpx.head(f"{server.base_url}{POLL.format(task_id)}", headers=creds.headers)
    assert head.status_code == 405 and head.content == b""


def test_polls_are_counted_and_logged(server: ServerHandle, creds: Credentials,
                                      task_id: str) -> None:
    with httpx.Client(base_url=server.base_url, headers=creds.headers) as client:
        for _ in range(3):
            assert client.get(POLL.format(task_id)).status_code == 200
        assert client.get(f"/v1/videos/text2video/{task_id}").status_code == 200
    metrics = httpx.get(f"{server.base_url}/metrics").text
    counted = re.search(r'openkling_http_requests_total\{method="GET",'
                        r'route="/kling/v1/videos/text2video/\{task_id\}",status="200"\} (\S+)',
                        metrics)
    assert counted is not None and float(counted.group(1)) == 3, metrics
    deadline = time.monotonic() + 10  # access lines are written in batches
    while f"GET {POLL.format(task_id)} 200" not in server.log():
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.1)


def test_the_protocol_serves_an_application_without_polls_through_asgi() -> None:
    """Under another application (no `poll_for`), every request, poll-shaped or not, goes to
    it through ASGI."""
    import threading

    import uvicorn

    from openkling.api.http_protocol import bounded_http_protocol
    from tests.conftest import free_port

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        if scope["type"] != "http":
            return
        body = f"plain app: {scope['path']}".encode()
        await send({"type": "http.response.start", "status": 200,  # type: ignore[operator]
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})  # type: ignore[operator]

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                           lifespan="off", http=bounded_http_protocol(8192)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        for path in (POLL.format("1"), POLL.format("1"), "/healthz"):
            answer = httpx.get(f"http://127.0.0.1:{port}{path}")
            assert answer.status_code == 200 and answer.text == f"plain app: {path}"
    finally:
        server.should_exit = True
        thread.join(30)
