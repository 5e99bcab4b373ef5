"""Issue 20: the slow-client deadlines and the connection cap hold under TLS too
(`OPENKLING_TLS_CERTFILE`, docs/configuration.md). A client that opens TCP and never finishes
its handshake is closed at the head deadline and counted (`reason="handshake"`); one that
finishes it and trickles its headers gets the same 408 as over plain HTTP; a flood of
handshakes that never finish cannot starve /healthz. Loopback, a self-signed certificate, short
deadlines and a small cap set by the test.
"""

from __future__ import annotations

import re
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerFactory, ServerHandle
from tests.support.tls_front import self_signed

pytestmark = pytest.mark.slow


def tls_server(server_factory: ServerFactory, tmp_path: Path,
               env: dict[str, str]) -> ServerHandle:
    cert, key = self_signed(tmp_path)
    return server_factory({"OPENKLING_TLS_CERTFILE": str(cert),
                           "OPENKLING_TLS_KEYFILE": str(key), **env})


def closed_count(server: ServerHandle, reason: str) -> float:
    metrics = httpx.get(f"{server.base_url}/metrics", verify=server.verify).text
    found = re.search(rf'openkling_slow_clients_closed_total\{{reason="{reason}"\}} (\S+)',
                      metrics)
    return float(found.group(1)) if found else 0.0


def until_closed(sock: socket.socket, timeout: float) -> bytes:
    """What the server sent before closing `sock` (fails if it is still open at `timeout`)."""
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except (ConnectionResetError, ssl.SSLEOFError):
        pass
    except TimeoutError:
        raise AssertionError("a slow connection was not closed") from None
    return received


@contextmanager
def silent_connections(server: ServerHandle, count: int) -> Iterator[list[socket.socket]]:
    """`count` TCP connections that never send a ClientHello."""
    with ExitStack() as stack:
        yield [stack.enter_context(socket.create_connection(("127.0.0.1", server.port)))
               for _ in range(count)]


def test_https_is_served_and_the_scheme_is_https(server_factory: ServerFactory,
                                                 tmp_path: Path) -> None:
    server = tls_server(server_factory, tmp_path, {})
    assert server.base_url.startswith("https://")
    answer = httpx.get(f"{server.base_url}/healthz", verify=server.verify)
    assert answer.status_code == 200
    with pytest.raises(httpx.HTTPError):  # plain HTTP on the TLS port is not answered
        httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5)


def test_a_handshake_that_never_starts_is_closed_at_the_head_deadline_and_counted(
    server_factory: ServerFactory, tmp_path: Path,
) -> None:
    server = tls_server(server_factory, tmp_path,
                        {"OPENKLING_REQUEST_HEAD_TIMEOUT_SECONDS": "2"})
    with silent_connections(server, 3) as silent:
        answers = [until_closed(sock, timeout=30) for sock in silent]
    assert answers == [b"", b"", b""]  # no HTTP answer on a connection that never spoke TLS
    assert closed_count(server, "handshake") == 3
    assert closed_count(server, "head") == 0
    assert "closed slow or surplus client connections (handshake " in server.log()


def test_headers_trickled_after_the_handshake_get_408(server_factory: ServerFactory,
                                                      tmp_path: Path) -> None:
    """A byte now and then, over TLS, does not extend the head deadline."""
    server = tls_server(server_factory, tmp_path,
                        {"OPENKLING_REQUEST_HEAD_TIMEOUT_SECONDS": "2"})
    context = ssl.create_default_context(cafile=server.env["OPENKLING_TLS_CERTFILE"])
    raw = socket.create_connection(("127.0.0.1", server.port))
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Drip: ")
        sock.settimeout(0.5)
        received = b""
        deadline = time.monotonic() + 30
        while not received and time.monotonic() < deadline:
            try:
                sock.sendall(b"a")
                received = sock.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                break
    assert received.startswith(b"HTTP/1.1 408 "), received
    assert b"the request headers did not arrive within 2 s" in received
    assert closed_count(server, "head") == 1
    assert closed_count(server, "handshake") == 0


def test_a_body_that_stops_arriving_over_tls_gets_408(server_factory: ServerFactory,
                                                      tmp_path: Path) -> None:
    server = tls_server(server_factory, tmp_path,
                        {"OPENKLING_REQUEST_BODY_TIMEOUT_SECONDS": "2"})
    context = ssl.create_default_context(cafile=server.env["OPENKLING_TLS_CERTFILE"])
    raw = socket.create_connection(("127.0.0.1", server.port))
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        sock.sendall(b"POST /v1/videos/text2video HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 100\r\n\r\n{\"prompt\"")
        received = until_closed(sock, timeout=30)
    assert received.startswith(b"HTTP/1.1 408 "), received
    assert b"the request body did not arrive within 2 s" in received
    assert closed_count(server, "body") == 1


def test_handshakes_that_never_finish_cannot_starve_healthz(server_factory: ServerFactory,
                                                           tmp_path: Path) -> None:
    """Three times the cap in silent TCP connections (a deadline far off): each new
    connection makes room by closing the one waiting longest, so /healthz keeps answering."""
    cap, silent_count = 20, 60
    server = tls_server(server_factory, tmp_path,
                        {"OPENKLING_MAX_CONNECTIONS": str(cap),
                         "OPENKLING_REQUEST_HEAD_TIMEOUT_SECONDS": "300"})
    with silent_connections(server, silent_count) as silent:
        for _ in range(5):
            answer = httpx.get(f"{server.base_url}/healthz", verify=server.verify, timeout=10)
            assert answer.status_code == 200
        evicted = [until_closed(sock, timeout=10) == b"" for sock in silent[:silent_count - cap]]
    assert all(evicted)
    assert closed_count(server, "evicted") >= silent_count - cap
    assert closed_count(server, "handshake") == 0
