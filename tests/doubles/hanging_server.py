"""HangingServerDouble: a loopback TCP server that accepts connections and never answers.

What a remote end that hangs looks like to a client: the connection opens, the request is
sent, no byte ever comes back. It counts the connections it holds and closes them on exit.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time


class HangingServerDouble:
    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=512)
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True,
                                        name="hanging-server-double")

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def held(self) -> int:
        """Connections accepted and still open (none is ever answered)."""
        with self._lock:
            return len(self._held)

    async def wait_for(self, count: int, timeout: float = 30.0) -> None:
        """Until `count` connections are held (an async wait: the clients may run on the
        waiting loop)."""
        deadline = time.monotonic() + timeout
        while self.held < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.held} connection(s), not {count}")
            await asyncio.sleep(0.02)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                if self._closed:
                    conn.close()
                    return
                self._held.append(conn)

    def __enter__(self) -> HangingServerDouble:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._closed = True
            held, self._held = self._held, []
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._listener.close()
        for conn in held:
            conn.close()
        self._thread.join(timeout=5)
