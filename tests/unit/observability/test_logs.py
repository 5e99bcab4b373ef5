"""Log lines an operator can use: JSON with the request context, plain with it appended,
secrets redacted in both."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator

import pytest

from openkling.observability.logs import (
    ContextFilter,
    JsonFormatter,
    PlainFormatter,
    RedactSecrets,
    account_var,
    log_access,
    request_id_var,
    task_id_var,
)


@pytest.fixture
def capture() -> Iterator[tuple[io.StringIO, logging.StreamHandler[io.StringIO]]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream, handler
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_json_line_has_every_documented_key_and_the_context(capture) -> None:
    stream, handler = capture
    handler.setFormatter(JsonFormatter())
    tokens = [request_id_var.set("req-1"), account_var.set("alice"), task_id_var.set("42")]
    try:
        logging.getLogger("openkling.test").warning("disk at %d%%", 93)
    finally:
        for var, token in zip((request_id_var, account_var, task_id_var), tokens, strict=True):
            var.reset(token)
    entry = json.loads(stream.getvalue().strip())
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "openkling.test"
    assert entry["message"] == "disk at 93%"
    assert (entry["request_id"], entry["account"], entry["task_id"]) == ("req-1", "alice", "42")
    assert entry["time"].endswith("Z") and "T" in entry["time"]


def test_json_access_line_carries_method_path_status_and_latency(capture) -> None:
    stream, handler = capture
    handler.setFormatter(JsonFormatter())
    log_access("GET", "/v1/videos/text2video/7", 200, time.perf_counter() - 0.005, "req-2",
               "bob")
    entry = json.loads(stream.getvalue().strip())
    assert entry["logger"] == "openkling.access"
    assert (entry["method"], entry["path"], entry["status"]) == (
        "GET", "/v1/videos/text2video/7", 200)
    assert entry["duration_ms"] >= 5
    assert (entry["request_id"], entry["account"]) == ("req-2", "bob")


def test_json_line_outside_a_request_has_null_context_and_a_traceback(capture) -> None:
    stream, handler = capture
    handler.setFormatter(JsonFormatter())
    try:
        raise OSError("no space left on device")
    except OSError:
        logging.getLogger("openkling.test").exception("write failed")
    entry = json.loads(stream.getvalue().strip())
    assert entry["request_id"] is None and entry["account"] is None
    assert "OSError: no space left on device" in entry["traceback"]
    assert len(stream.getvalue().strip().splitlines()) == 1  # one object a line


def test_plain_line_appends_the_context_only_when_set(capture) -> None:
    stream, handler = capture
    handler.setFormatter(PlainFormatter())
    logging.getLogger("openkling.test").info("outside")
    token = request_id_var.set("req-3")
    try:
        logging.getLogger("openkling.test").info("inside")
    finally:
        request_id_var.reset(token)
    outside, inside = stream.getvalue().strip().splitlines()
    assert outside.endswith("openkling.test: outside")
    assert inside.endswith("openkling.test: inside [request_id=req-3]")


@pytest.mark.parametrize("formatter", [JsonFormatter(), PlainFormatter()])
def test_relay_callback_tokens_and_url_signatures_are_redacted(capture, formatter) -> None:
    stream, handler = capture
    handler.setFormatter(formatter)
    log_access("POST", "/upstream/kling/123/s3cr3t-token", 200, time.perf_counter(), "r", None)
    logging.getLogger("openkling.test").info("fetch %s", "http://x/files/a.mp4?signature=abc123")
    text = stream.getvalue()
    assert "s3cr3t-token" not in text and "abc123" not in text
    assert "/upstream/kling/123/<redacted>" in text and "signature=<redacted>" in text
