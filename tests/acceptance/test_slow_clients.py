"""Issue 20 (1): clients that never finish their request are closed, and a flood of them
cannot starve /healthz or creates. On loopback, with the connection cap lowered by setting so
that a few hundred connections are a flood (the real machine's file limit is never reached).
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
import pytest

from tests.conftest import ServerFactory, ServerHandle

pytestmark = pytest.mark.slow

CAP = 100
SLOW = 300
HEAD_SECONDS = 3


@contextmanager
def slow_clients(server: ServerHandle, count: int, data: bytes) -> Iterator[list[socket.socket]]:
    """`count` connections that each send `data` and then nothing more."""
    with ExitStack() as stack:
        sockets = []
        for _ in range(count):
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", server.port)))
            sock.sendall(data)
            sockets.append(sock)
        yield sockets


def closed_with(sock: socket.socket, timeout: float) -> bytes:
    """What the server sent before closing `sock` (fails if it is still open at `timeout`)."""
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError("a slow connection was not closed") from None
    return received


def closed_count(server: ServerHandle, reason: str) -> float:
    metrics = httpx.get(f"{server.base_url}/metrics").text
    found = re.search(rf'openkling_slow_clients_closed_total\{{reason="{reason}"\}} (\S+)',
                      metrics)
    return float(found.group(1)) if found else 0.0


def test_a_slow_client_flood_is_closed_and_health_and_creates_keep_answering(
    server_factory: ServerFactory,
) -> None:
    server = server_factory({"OPENKLING_MAX_CONNECTIONS": str(CAP),
                             "OPENKLING_REQUEST_HEAD_TIMEOUT_SECONDS": str(HEAD_SECONDS),
                             "OPENKLING_REQUEST_BODY_TIMEOUT_SECONDS": str(HEAD_SECONDS)})
    creds = server.create_key("flooded")
    with slow_clients(server, SLOW, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ") as flood:
        # Three times the cap is open (or was, until evicted): the server still answers.
        for _ in range(5):
            assert httpx.get(f"{server.base_url}/healthz", timeout=10).status_code == 200
            created = httpx.post(f"{server.base_url}/v1/videos/text2video",
                                 headers=creds.headers, json={"prompt": "still served"},
                                 timeout=10)
            assert created.status_code == 200, created.text
        answers = [closed_with(sock, timeout=HEAD_SECONDS + 30) for sock in flood]
    timed_out = [a for a in answers if a]
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in timed_out)
    assert b"the request headers did not arrive within 3 s" in timed_out[0]
    evicted = closed_count(server, "evicted")
    assert evicted >= SLOW - CAP  # at least the surplus made room for newcomers
    assert closed_count(server, "head") >= len(timed_out) > 0
    assert "closed slow or surplus client connections (" in server.log()


def test_a_body_that_stops_arriving_is_closed_with_408(server_factory: ServerFactory) -> None:
    server = server_factory({"OPENKLING_REQUEST_BODY_TIMEOUT_SECONDS": "2"})
    creds = server.create_key("slow-body")
    auth = creds.headers["Authorization"].encode()
    head = (b"POST /v1/videos/text2video HTTP/1.1\r\nHost: x\r\nAuthorization: " + auth
            + b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"prompt\"")
    with slow_clients(server, 3, head) as stalled:
        answers = [closed_with(sock, timeout=30) for sock in stalled]
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), answers
    assert b"the request body did not arrive within 2 s" in answers[0]
    assert closed_count(server, "body") == 3
    assert httpx.get(f"{server.base_url}/healthz").status_code == 200


def test_a_client_that_trickles_its_headers_is_still_closed(server_factory: ServerFactory) -> None:
    """A byte now and then does not reset the deadline (it did reset uvicorn's keep-alive)."""
    server = server_factory({"OPENKLING_REQUEST_HEAD_TIMEOUT_SECONDS": "2"})
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nX-Drip: ")
        sock.settimeout(0.5)
        received = b""
        deadline = time.monotonic() + 30
        while not received and time.monotonic() < deadline:
            try:
                sock.sendall(b"a")
                received = sock.recv(65536)
                if not received:
                    break
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
    assert received.startswith(b"HTTP/1.1 408 ") or received == b""
    assert closed_count(server, "head") == 1
