"""Log setup for every process: plain or JSON lines, request context, secrets redacted.

The request id, account and task id live in context variables, so any log line written while
a request (or a task run) is handled carries them without being passed around. The JSON
format writes one object a line with a fixed set of keys, for log shippers.
"""

from __future__ import annotations

import json
import logging
import re
import time
from contextvars import ContextVar
from typing import Any, Literal

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


def log_access(method: str, path: str, status: int, started: float, request_id: str,
               account: str | None) -> None:
    """One access line; the caller passes `time.perf_counter()` taken at the start."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    duration_ms = round((time.perf_counter() - started) * 1000, 2)
    access_log.info(
        "%s %s %d %.2fms", method, path, status, duration_ms,
        extra={"method": method, "path": path, "status": status, "duration_ms": duration_ms,
               "request_id": request_id, "account": account},
    )


def _iso_time(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"
