"""Log setup for every process: plain or JSON lines, request context, secrets redacted.

The request id, account and task id live in context variables, so any log line written while
a request (or a task run) is handled carries them without being passed around. The JSON
format writes one object a line with a fixed set of keys, for log shippers.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import re
import threading
import time
from collections import deque
from contextvars import ContextVar
from typing import Any, Literal, TextIO

LogFormat = Literal["plain", "json"]

request_id_var: ContextVar[str | None] = ContextVar("openkling_request_id", default=None)
account_var: ContextVar[str | None] = ContextVar("openkling_account", default=None)
task_id_var: ContextVar[str | None] = ContextVar("openkling_task_id", default=None)

#: Record attributes the access log sets (as `extra`) and the JSON format writes.
ACCESS_FIELDS = ("method", "path", "status", "duration_ms")
_CONTEXT = ((request_id_var, "request_id"), (account_var, "account"), (task_id_var, "task_id"))

access_log = logging.getLogger("openkling.access")


class ContextFilter(logging.Filter):
    """Copies the context variables onto each record (unless the caller set them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for var, name in _CONTEXT:
            if not hasattr(record, name):
                setattr(record, name, var.get())
        return True


class RedactSecrets(logging.Filter):
    """Keep URL secrets out of logs: the relay's per-task callback tokens (in the path) and
    the signatures of download links (in the query)."""

    _TOKEN_PATH = re.compile(r"(/upstream/kling/[^/\s]+/)[^/?\s\"]+")
    _SIGNATURE = re.compile(r"((?:signature|Signature)=)[^&\s\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self.redact(arg) if isinstance(arg, str) else arg
                                for arg in record.args)
        path = getattr(record, "path", None)
        if isinstance(path, str):
            record.path = self.redact(path)
        return True

    @classmethod
    def redact(cls, text: str) -> str:
        if "/upstream/" not in text and "ignature=" not in text:
            return text
        return cls._SIGNATURE.sub(r"\1<redacted>", cls._TOKEN_PATH.sub(r"\1<redacted>", text))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the request context, the access
    fields when present, and the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "account": getattr(record, "account", None),
            "task_id": getattr(record, "task_id", None),
        }
        for name in ACCESS_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["traceback"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    """`time LEVEL logger: message`, with `[request_id=… account=… task_id=…]` when set."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        context = " ".join(f"{name}={value}" for _, name in _CONTEXT
                           if (value := getattr(record, name, None)) is not None)
        return f"{line} [{context}]" if context else line


def configure_logging(level: str, fmt: LogFormat = "plain") -> None:
    """One handler on the root logger for our logs and uvicorn's; secrets never reach it."""
    global _access_writer
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else PlainFormatter())
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactSecrets())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # httpx logs every request URL at INFO: signed video URLs and upstream calls by the
    # thousand. Their failures still surface through our own messages.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Our access log replaces uvicorn's (which has no request id, account or latency).
    logging.getLogger("uvicorn.access").disabled = True
    if _access_writer is not None:
        _access_writer.stop()
        _access_writer = None
    if access_log.isEnabledFor(logging.INFO):
        _access_writer = AccessWriter(handler.stream, fmt)
        _access_writer.start()


class AccessWriter:
    """Access lines off the write path: a request formats its line where it is served
    (~3 us) and appends it to a deque; a thread takes what is there and writes it in batches,
    one write call each.

    Through `logging` an access line cost ~30 us on the event loop (a LogRecord, the caller's
    frame lookup, filters, a write and a flush per line): more than the poll it describes.
    Formatting in the thread instead kept the GIL from the event loop in slices of up to 5 ms
    (CPython hands it back only when a waiter has asked for that long), which doubled the
    poll's p99 at full load (docs/benchmarks.md); the write itself releases the GIL.
    The lines look exactly like the handler's (plain or JSON).
    """

    def __init__(self, stream: TextIO, fmt: LogFormat, interval: float = 0.2) -> None:
        self.stream = stream
        self.json = fmt == "json"
        self.interval = interval
        self._lines: deque[str] = deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._second = -1
        self._second_text = ""

    def add(self, method: str, path: str, status: int, duration_ms: float, request_id: str,
            account: str | None) -> None:
        line = self._format(time.time(), method, path, status, duration_ms, request_id, account)
        self._lines.append(line)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="openkling-access-log",
                                        daemon=True)
        self._thread.start()
        atexit.register(self.flush)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()

    def flush(self) -> None:
        # Take only the lines there now: append and popleft are atomic, so a line added
        # meanwhile waits for the next batch and none is lost (nor written twice when the
        # thread and an exit hook flush at once).
        pending, lines = self._lines, []
        with contextlib.suppress(IndexError):
            for _ in range(len(pending)):
                lines.append(pending.popleft())
        if lines:
            with contextlib.suppress(Exception):  # a closed stream at exit: nothing to do
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()

    def _format(self, created: float, method: str, path: str, status: int,
                duration_ms: float, request_id: str, account: str | None) -> str:
        path = RedactSecrets.redact(path)
        if self.json:
            return json.dumps({
                "time": _iso_time(created), "level": "INFO", "logger": access_log.name,
                "message": f"{method} {path} {status} {duration_ms:.2f}ms",
                "request_id": request_id, "account": account, "task_id": None,
                "method": method, "path": path, "status": status, "duration_ms": duration_ms,
            }, ensure_ascii=False)
        second = int(created)
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
            self._second = second
        context = f"request_id={request_id} account={account}" if account else \
            f"request_id={request_id}"
        return (f"{self._second_text},{int(created % 1 * 1000):03d} INFO {access_log.name}: "
                f"{method} {path} {status} {duration_ms:.2f}ms [{context}]")


_access_writer: AccessWriter | None = None


def log_access(method: str, path: str, status: int, started: float, request_id: str,
               account: str | None) -> None:
    """One access line; the caller passes `time.perf_counter()` taken at the start."""
    writer = _access_writer
    if writer is not None:
        writer.add(method, path, status, round((time.perf_counter() - started) * 1000, 2),
                   request_id, account)


def _iso_time(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"
