"""Log lines an operator can use: JSON with the request context, plain with it appended,
secrets redacted in both."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator

import pytest

from openkling.observability import logs
from openkling.observability.logs import (
    AccessWriter,
    ContextFilter,
    JsonFormatter,
    PlainFormatter,
    RedactSecrets,
    account_var,
    configure_logging,
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


@pytest.mark.parametrize("fmt", ["json", "plain"])
def test_access_line_carries_method_path_status_latency_request_id_and_account(fmt) -> None:
    stream = io.StringIO()
    writer = AccessWriter(stream, fmt)
    writer.add("GET", "/v1/videos/text2video/7", 200, 5.25, "req-2", "bob")
    assert stream.getvalue() == ""  # nothing written on the request path
    writer.flush()
    line = stream.getvalue()
    assert line.endswith("\n") and line.count("\n") == 1
    if fmt == "json":
        entry = json.loads(line)
        assert entry["logger"] == "openkling.access" and entry["level"] == "INFO"
        assert (entry["method"], entry["path"], entry["status"]) == (
            "GET", "/v1/videos/text2video/7", 200)
        assert entry["duration_ms"] == 5.25
        assert (entry["request_id"], entry["account"]) == ("req-2", "bob")
    else:
        assert line.rstrip().endswith(
            " INFO openkling.access: GET /v1/videos/text2video/7 200 5.25ms "
            "[request_id=req-2 account=bob]")


def test_access_lines_follow_the_log_level() -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("warning")
        assert logs._access_writer is None
        log_access("GET", "/x", 200, time.perf_counter(), "r", None)  # a no-op, no error
        configure_logging("info")
        assert logs._access_writer is not None
    finally:
        configure_logging("warning")
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
        logging.getLogger("uvicorn.access").disabled = False


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
def test_url_signatures_in_log_arguments_are_redacted(capture, formatter) -> None:
    stream, handler = capture
    handler.setFormatter(formatter)
    logging.getLogger("openkling.test").info("fetch %s", "http://x/files/a.mp4?signature=abc123")
    text = stream.getvalue()
    assert "abc123" not in text and "signature=<redacted>" in text


@pytest.mark.parametrize("fmt", ["json", "plain"])
def test_relay_callback_tokens_in_access_paths_are_redacted(fmt) -> None:
    stream = io.StringIO()
    writer = AccessWriter(stream, fmt)
    writer.add("POST", "/upstream/kling/123/s3cr3t-token", 200, 1.0, "r", None)
    writer.flush()
    assert "s3cr3t-token" not in stream.getvalue()
    assert "/upstream/kling/123/<redacted>" in stream.getvalue()


def test_access_lines_added_while_the_writer_flushes_are_each_written_once() -> None:
    """The writer thread flushes while requests keep adding lines: none lost, none twice."""
    stream = io.StringIO()
    writer = AccessWriter(stream, "plain", interval=0.001)
    writer.start()
    try:
        for n in range(20_000):
            writer.add("GET", f"/v1/videos/text2video/{n}", 200, 0.5, f"req-{n}", None)
    finally:
        writer.stop()
    paths = [line.split()[5] for line in stream.getvalue().splitlines()]
    assert sorted(paths) == sorted(f"/v1/videos/text2video/{n}" for n in range(20_000))
