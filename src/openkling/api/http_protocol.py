"""uvicorn's httptools protocol with limits on what one client can hold.

- The request head (request line + headers) is bounded in size: httptools buffers a header of
  any size, and a client sending a 50 MB header kept the event loop busy for seconds. Past
  the limit: 431 with a Kling envelope, connection closed, before the application sees it.
- The head and the body are bounded in time: a client must send its whole head within
  `head_timeout` seconds of connecting (or of starting its next request on a kept-alive
  connection), and its body within `body_timeout` seconds of the head. A slower one gets 408
  and is closed. Without this, connections that never finished their headers were never
  closed, and 20,000 of them used up the process's open files.
- Open connections are capped below the open-file limit (`connection_cap`). At the cap, a new
  connection closes the one that has waited longest for a request (a slow client, or an idle
  kept-alive one); if every connection is busy with a request, the new one is closed. So
  /healthz and creates keep answering under a flood of slow clients.
- With TLS (`bounded_http_protocol(tls=...)`), the connection counts against the cap and its
  head deadline runs from the TCP connect, handshake included: a client that never finishes
  its handshake is closed at the head deadline (reason `handshake`), one that finishes it and
  then trickles its headers gets the same 408 as over plain HTTP.

Each closure counts in `openkling_slow_clients_closed_total{reason}` and is logged at most
once per `LOG_INTERVAL_SECONDS` with the counts.

Both cost a poll almost nothing (docs/benchmarks.md): a deadline is a time stored on the
connection, which one sweep per server checks a few times per time limit (a timer per
request cost more than a tenth of a poll), and a response's head leaves in the same write as
its body (one send, not two).
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import ssl
from collections import OrderedDict
from typing import Any, ClassVar, cast

from starlette.types import Scope
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from openkling.api.envelope import new_request_id
from openkling.api.fastpath import Poll, finish_poll, poll_response
from openkling.core.errors import Code
from openkling.observability.metrics import SLOW_CLIENTS_CLOSED

log = logging.getLogger("openkling.api")

#: Slow-client closures are logged at most this often, with their counts.
LOG_INTERVAL_SECONDS = 60.0
#: Open files the automatic connection cap leaves for everything else (at least).
RESERVED_FILES = 128


def connection_cap(configured: int, soft_limit: int | None = None) -> int:
    """The connection cap for an open-file limit: three quarters of it, leaving at least
    `RESERVED_FILES` for the database, storage, model processes and outbound requests;
    `configured` (when not 0) may only lower it."""
    if soft_limit is None:
        soft_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft_limit == resource.RLIM_INFINITY:
            soft_limit = 1 << 20
    automatic = max(16, soft_limit - max(RESERVED_FILES, soft_limit // 4))
    return automatic if configured <= 0 else min(configured, automatic)


class _SlowClientLog:
    """Counts closures and logs them once per interval (the first at once)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.last_logged = float("-inf")
        self.flush_handle: asyncio.TimerHandle | None = None

    def closed(self, reason: str, loop: asyncio.AbstractEventLoop) -> None:
        SLOW_CLIENTS_CLOSED.labels(reason).inc()
        self.counts[reason] = self.counts.get(reason, 0) + 1
        if loop.time() - self.last_logged >= LOG_INTERVAL_SECONDS:
            self.flush(loop)
        elif self.flush_handle is None:
            self.flush_handle = loop.call_at(self.last_logged + LOG_INTERVAL_SECONDS,
                                             self.flush, loop)

    def flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self.flush_handle = None
        if not self.counts:
            return
        counts = ", ".join(f"{reason} {n}" for reason, n in sorted(self.counts.items()))
        log.warning("closed slow or surplus client connections (%s) since the last report; "
                    "see openkling_slow_clients_closed_total", counts)
        self.counts = {}
        self.last_logged = loop.time()

class _DeadlineSweep:
    """One timer per server that closes the connections past their deadline (each connection
    only stores when its deadline falls): a connection is closed within `tick` seconds after
    its deadline, and a request arms no timer of its own."""

    def __init__(self, tick: float) -> None:
        self.tick = tick
        self.handle: asyncio.TimerHandle | None = None

    def start(self, loop: asyncio.AbstractEventLoop, connections: set[Any]) -> None:
        if self.handle is None:
            self.handle = loop.call_later(self.tick, self.sweep, loop, connections)

    def sweep(self, loop: asyncio.AbstractEventLoop, connections: set[Any]) -> None:
        self.handle = None
        now = loop.time()
        for protocol in list(connections):
            phase = getattr(protocol, "_phase", None)
            if phase is not None and protocol._due <= now:
                protocol._close_slow(phase)
        if connections:  # idle servers stop sweeping; the next connection starts it again
            self.start(loop, connections)


_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class _HeadWithBody:
    """The transport one response cycle writes to: it holds the response's head until the
    body's first write and sends both at once. uvicorn writes them apart, and the second
    send cost a poll as much as its database read. A HEAD answer, which has no body, is not
    held; a close sends what is held first."""

    __slots__ = ("head", "holding", "transport")

    def __init__(self, transport: asyncio.Transport, hold: bool) -> None:
        self.transport = transport
        self.head: bytes | None = None
        self.holding = hold  # until the head has been seen

    def write(self, data: bytes) -> None:
        if self.head is not None:
            data, self.head = self.head + data, None
        elif self.holding and data != _CONTINUE:
            self.holding = False
            self.head = data
            return
        self.transport.write(data)

    def close(self) -> None:
        if self.head is not None:
            self.transport.write(self.head)
            self.head = None
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()


#: asyncio reads at most this much at once: the chunk in which a request begins may carry
#: that much of the previous request too, so the streaming check starts after it.
_READ_CHUNK = 256 * 1024


def _find_poller(app: Any) -> Any:
    """The application's `poll_for` (OpenKlingApp's), under uvicorn's wrappers; None if none."""
    for _ in range(8):
        poll_for = getattr(app, "poll_for", None)
        if poll_for is not None:
            return poll_for
        app = getattr(app, "app", None)
    return None


def _no_polls(scope: Any) -> None:
    return None


class _BoundedHeadProtocol(HttpToolsProtocol):
    max_head_bytes = 16 * 1024
    head_timeout = 10.0
    body_timeout = 120.0
    max_connections = 1 << 20
    #: Per generated class (one per server): connections waiting for a request, oldest first.
    waiting: ClassVar[OrderedDict[_BoundedHeadProtocol, None]]
    slow_log: ClassVar[_SlowClientLog]
    deadlines: ClassVar[_DeadlineSweep]
    #: The application's `poll_for`, found at the first request (one app per server).
    poller: ClassVar[Any] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._rejected = False
        #: The phase whose time limit runs ("head" or "body"; None: none), and when it ends.
        self._phase: str | None = None
        self._due = 0.0

    # -- time limits and the connection cap -------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections and not self._evict_one():
            self.slow_log.closed("refused", self.loop)
            self.transport.close()
            return
        self._wait_for_request()
        self._arm("head", self.head_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.waiting.pop(self, None)
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self._in_head:
            self._wait_for_request()  # idle until the next request: may be evicted

    def _wait_for_request(self) -> None:
        self.waiting[self] = None

    def _evict_one(self) -> bool:
        """Close the connection that has waited longest for a request; False if none."""
        while self.waiting:
            oldest, _ = self.waiting.popitem(last=False)
            if oldest is not self and not oldest.transport.is_closing():
                oldest._close_slow("evicted", answer=False)
                return True
        return False

    def _arm(self, phase: str, seconds: float) -> None:
        self._phase = phase
        self._due = self.loop.time() + seconds
        self.deadlines.start(self.loop, self.connections)

    def _disarm(self) -> None:
        self._phase = None

    def _close_slow(self, reason: str, answer: bool = True) -> None:
        """Close a connection whose client was too slow; 408 when it is owed an answer and
        none has begun."""
        self._phase = None
        self.waiting.pop(self, None)
        if self.transport.is_closing():
            return
        self.slow_log.closed(reason, self.loop)
        cycle = self.cycle  # for a late head: the previous request's, if any
        if reason == "head":  # owed a 408 unless an earlier response is still being sent
            owed = cycle is None or cycle.response_complete
        else:  # the body's request: owed a 408 unless its answer has begun
            owed = cycle is not None and not cycle.response_started
        if cycle is not None and not cycle.response_complete:
            cycle.keep_alive = False
            cycle.disconnected = True
        if answer and owed:
            seconds = self.head_timeout if reason == "head" else self.body_timeout
            what = "request headers" if reason == "head" else "request body"
            self._send_error(408, "Request Timeout",
                             f"the {what} did not arrive within {seconds:g} s")
        self.transport.close()

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
        if self._phase is None:  # the next request on a kept-alive connection
            self._arm("head", self.head_timeout)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self.waiting.pop(self, None)
        self._arm("body", self.body_timeout)
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.max_head_bytes:
            self._rejected = True  # answered once the parser returns
            return
        previous = self.cycle
        super().on_headers_complete()
        cycle: RequestResponseCycle | None = self.cycle
        if cycle is not None and cycle is not previous:
            cycle.transport = _HeadWithBody(  # type: ignore[assignment]
                self.transport, hold=self.scope["method"] != "HEAD")

    # -- polls without the ASGI layers -------------------------------------------------------
    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        """A plain poll is answered here, in uvicorn's request cycle (keep-alive, pipelining,
        time limits all as for any request), without the ASGI messages, uvicorn's proxy-header
        middleware and the application's dispatch: a third of a poll's cost."""
        if self.poller is None:  # staticmethod: a plain function must not bind to self
            type(self).poller = staticmethod(_find_poller(self.app) or _no_polls)
        found = self.poller(cycle.scope) if app is self.app else None  # else: over a limit
        if found is None:
            super()._start_asgi_task(cycle, app)
            return
        task = self.loop.create_task(self._answer_poll(cycle, *found))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    async def _answer_poll(self, cycle: RequestResponseCycle, services: Any, poll: Poll) -> None:
        try:
            if self.flow.write_paused and not cycle.disconnected:
                await self.flow.drain()
            scope = cast("Scope", cycle.scope)
            response = await poll_response(services, poll, scope)
            if not cycle.disconnected:
                parts = [STATUS_LINE[response.answer.status]]
                for name, value in (*self.server_state.default_headers, *response.headers):
                    parts += (name, b": ", value, b"\r\n")
                if not cycle.keep_alive:
                    parts.append(b"connection: close\r\n")
                parts += (b"\r\n", response.answer.body)
                cycle.response_started = True
                self.transport.write(b"".join(parts))
                cycle.response_complete = True
                cycle.message_event.set()
                if not cycle.keep_alive:
                    self.transport.close()
                cycle.on_response()
            finish_poll(poll, scope, response)
        except Exception:  # as uvicorn does for an application's exception
            log.exception("answering a poll failed")
            self.transport.close()

    def on_body(self, body: bytes) -> None:
        if not self._rejected:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        if not self._rejected:
            super().on_message_complete()
        self._in_head = True
        self._head_bytes = 0

    def _send_431(self) -> None:
        if self.transport.is_closing():
            return
        self._send_error(431, "Request Header Fields Too Large",
                         f"request headers are larger than {self.max_head_bytes} bytes")
        self.transport.close()

    def _send_error(self, status: int, reason: str, message: str) -> None:
        request_id = new_request_id()
        body = json.dumps({
            "code": int(Code.INVALID_REQUEST), "message": message,
            "request_id": request_id, "data": None,
        }).encode()
        head = (
            f"HTTP/1.1 {status} {reason}\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            f"x-request-id: {request_id}\r\n"
            "connection: close\r\n\r\n"
        ).encode()
        self.transport.write(head + body)


class _TlsBoundedProtocol(_BoundedHeadProtocol):
    """TLS done by the protocol (`loop.start_tls`) instead of by the server. A server-side TLS
    listener (uvicorn's `ssl_certfile`) calls its protocol only once the handshake is over,
    and gives a handshake 60 s: a client that opened TCP and sent nothing held a file for a
    minute, outside the connection cap and every deadline. Here the TCP connection counts
    against the cap from its accept, waits for a request (so it may be evicted), and its
    handshake and headers share the head deadline; the plain-HTTP path is untouched.

    It needs an event loop that honours `pause_reading` in `connection_made` (asyncio's):
    uvloop starts reading after `connection_made` regardless, and the ClientHello would reach
    the HTTP parser before `start_tls` takes the connection over."""

    tls: ClassVar[ssl.SSLContext]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Data decrypted after the handshake but before start_tls returned (the client's
        #: first request often comes with its last handshake message); None once connected.
        self._early: list[bytes] | None = []

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """The TCP connection: the cap and the deadline, then the handshake."""
        self.transport = transport  # until the handshake ends: what eviction and deadlines close
        self.connections.add(self)
        if len(self.connections) > self.max_connections and not self._evict_one():
            self.slow_log.closed("refused", self.loop)
            transport.close()
            return
        self._wait_for_request()
        self._arm("handshake", self.head_timeout)
        transport.pause_reading()  # the ClientHello is for start_tls, which starts next turn
        task = self.loop.create_task(self._handshake(transport))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    async def _handshake(self, tcp: asyncio.Transport) -> None:
        tls: asyncio.Transport | None = None
        try:  # the sweep closes a late handshake first; the library's limit is a backstop
            tls = await self.loop.start_tls(
                tcp, self, self.tls, server_side=True,
                ssl_handshake_timeout=self.head_timeout + 2 * self.deadlines.tick)
        except OSError:  # not TLS (ssl.SSLError), or the client went away
            pass
        if tls is None:  # failed, or closed while handshaking (too slow, evicted, shutdown)
            self._disarm()
            self.waiting.pop(self, None)
            self.connections.discard(self)
            tcp.close()
            return
        HttpToolsProtocol.connection_made(self, tls)
        if self._phase == "handshake":
            self._phase = "head"  # the deadline still counts from the TCP connect
        early, self._early = self._early or [], None
        for data in early:
            self.data_received(data)

    def data_received(self, data: bytes) -> None:
        if self._early is not None:
            self._early.append(data)
            return
        super().data_received(data)


def bounded_http_protocol(max_head_bytes: int, *, head_timeout: float = 10.0,
                          body_timeout: float = 120.0, max_connections: int = 1 << 20,
                          tls: ssl.SSLContext | None = None) -> type[HttpToolsProtocol]:
    """The protocol class to give uvicorn's `http=` option (one per server: it holds that
    server's queue of waiting connections). With `tls`, it serves HTTPS itself: give uvicorn
    no `ssl_*` options then."""
    return type("BoundedHeadProtocol",
                (_BoundedHeadProtocol,) if tls is None else (_TlsBoundedProtocol,), {
        "max_head_bytes": max_head_bytes, "head_timeout": head_timeout,
        "body_timeout": body_timeout, "max_connections": max_connections,
        "waiting": OrderedDict(), "slow_log": _SlowClientLog(),
        "deadlines": _DeadlineSweep(min(1.0, head_timeout / 4, body_timeout / 4)),
        "poller": None, "tls": tls,
    })


def tls_context(certfile: str, keyfile: str | None = None) -> ssl.SSLContext:
    """A server's TLS context: the standard library's defaults for a server (TLS 1.2 and up),
    the certificate chain (and its key, when in a file of its own), HTTP/1.1 for ALPN."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    context.set_alpn_protocols(["http/1.1"])
    return context
