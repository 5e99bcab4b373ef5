"""Pieces of the SDK that need no server: errors, JWT signing, models, retry decisions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import jwt
import pytest

from openkling.client import (
    AccountError,
    APIError,
    APIKeyAuth,
    APITimeoutError,
    AuthenticationError,
    InvalidParameterError,
    JWTAuth,
    KlingClient,
    NotFoundError,
    PolicyError,
    QuotaError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    Task,
    TaskStatus,
    Video,
    _base,
)
from openkling.client._errors import error_from_response
from openkling.client._models import Text2VideoParams

SECRET = "a-secret-key-long-enough-for-hs256-0123456789"


def _reply(status: int, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    request = httpx.Request("GET", "http://127.0.0.1/v1/videos/text2video")
    return httpx.Response(status, json=body, headers=headers, request=request)


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (401, 1000, AuthenticationError),
        (401, 1004, AuthenticationError),
        (429, 1100, AccountError),
        (429, 1102, QuotaError),
        (403, 1103, AccountError),
        (400, 1200, InvalidParameterError),
        (400, 1201, InvalidParameterError),
        (404, 1202, NotFoundError),
        (404, 1203, NotFoundError),
        (400, 1301, PolicyError),
        (429, 1302, RateLimitError),
        (429, 1304, RateLimitError),
        (500, 5000, ServerError),
        (504, 5002, ServerError),
        (502, None, ServerError),
        (418, None, APIError),
    ],
)
def test_error_family_by_code(status: int, code: int | None, cls: type[APIError]) -> None:
    body = {"code": code, "message": "why", "request_id": "r-1", "data": None}
    error = error_from_response(_reply(status, body))
    assert type(error) is cls
    assert (error.code, error.message, error.request_id, error.http_status) == (
        code, "why", "r-1", status)


def test_rate_limit_error_carries_retry_after() -> None:
    body = {"code": 1302, "message": "slow down", "request_id": "r", "data": None}
    error = error_from_response(_reply(429, body, {"Retry-After": "7"}))
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 7.0


def test_jwt_claims_match_kling() -> None:
    now = 1_700_000_000.0
    auth = JWTAuth("ak", SECRET, clock=lambda: now)
    token = auth.token()
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False,
                                                                     "verify_nbf": False})
    assert claims == {"iss": "ak", "exp": int(now) + 1800, "nbf": int(now) - 5}


def test_jwt_is_cached_then_refreshed_before_expiry() -> None:
    clock = [1_700_000_000.0]
    auth = JWTAuth("ak", SECRET, lifetime=100, refresh_margin=10, clock=lambda: clock[0])
    first = auth.token()
    clock[0] += 80
    assert auth.token() == first  # 20 s left: still good
    clock[0] += 11
    second = auth.token()  # 9 s left: inside the margin, so re-signed
    assert second != first
    claims = jwt.decode(second, SECRET, algorithms=["HS256"], options={"verify_exp": False,
                                                                      "verify_nbf": False})
    assert claims["exp"] == int(clock[0]) + 100
    auth.invalidate()
    clock[0] += 1
    assert auth.token() != second


def test_credentials_never_show_in_repr() -> None:
    assert "s3cr3t" not in repr(JWTAuth("ak", "s3cr3t"))
    assert "key-1" not in repr(APIKeyAuth("key-1"))


def test_task_tolerates_extra_fields_and_numbers() -> None:
    task = Task.model_validate({
        "task_id": 866889456698785798, "task_status": "succeed", "task_status_msg": "",
        "task_info": {}, "created_at": 1_700_000_000_000, "updated_at": 1_700_000_001_000,
        "task_result": {"videos": [{"id": 1, "url": "http://x/v.mp4", "duration": 5.1,
                                    "watermark_url": "http://x/w.mp4"}]},
        "watermark_info": {"enabled": False}, "final_unit_deduction": "1",
    })
    assert task.task_id == "866889456698785798"
    assert task.status is TaskStatus.SUCCEED and task.is_terminal
    assert task.videos[0].duration == "5.1" and task.videos[0].duration_seconds == 5.1
    assert task.progress is None
    assert task.to_wire()["final_unit_deduction"] == "1"
    assert task.created is not None and task.created.year == 2023


def _text2video(**fields: object) -> _base.Request:
    return _base.create_request(_base.TEXT2VIDEO, Text2VideoParams,
                                {"prompt": "a cat", **fields})


def test_local_validation_is_a_1201_before_any_traffic() -> None:
    with pytest.raises(InvalidParameterError) as caught:
        _text2video(mode="turbo")
    assert caught.value.code == 1201 and "mode" in caught.value.message
    with pytest.raises(InvalidParameterError):
        _text2video(camera_control={"type": "simple"})


def test_create_sends_only_given_fields() -> None:
    request = _text2video(duration=10, aspect_ratio="9:16", negative_prompt=None,
                          camera_control={"type": "down_back"})
    assert request.json == {"prompt": "a cat", "duration": "10", "aspect_ratio": "9:16",
                            "camera_control": {"type": "down_back"}}


def test_external_ids_are_path_escaped() -> None:
    assert _base.get_request(_base.TEXT2VIDEO, None, "a b?c").path.endswith(
        "/text2video/a%20b%3Fc")
    slashed = _base.get_request(_base.TEXT2VIDEO, None, "a/b")
    assert slashed.params == {"external_task_id": "a/b"}


READ = _base.Request("GET", "/v1/videos/text2video/1")
CREATE = _base.Request("POST", "/v1/videos/text2video", json={"prompt": "x"})
CREATE_WITH_ID = _base.Request("POST", "/v1/videos/text2video",
                               json={"prompt": "x", "external_task_id": "mine"})


@pytest.mark.parametrize(
    ("request_", "status", "code", "retried"),
    [(CREATE, 429, 1302, True), (CREATE, 429, 1303, True), (CREATE, 429, 1102, False),
     (CREATE, 429, 1304, False), (READ, 503, 5001, True), (READ, 502, None, True),
     (CREATE_WITH_ID, 503, 5001, True), (CREATE_WITH_ID, 502, None, True),
     # A 5xx may hide a create that happened: without an external id, never repeat it.
     (CREATE, 503, 5001, False), (CREATE, 502, None, False),
     (CREATE, 400, 1201, False), (READ, 404, 1203, False), (READ, 401, 1002, False)],
)
def test_which_replies_are_retried(
    request_: _base.Request, status: int, code: int | None, retried: bool
) -> None:
    body = {"code": code, "message": "m", "request_id": "r", "data": None}
    delay = _base.retry_delay(RetryPolicy(), 0, request_, response=_reply(status, body))
    assert (delay is not None) is retried


def test_retry_after_wins_and_a_long_one_is_not_waited_for() -> None:
    request = _base.Request("GET", "/x")
    body = {"code": 1302, "message": "m", "request_id": "r", "data": None}
    policy = RetryPolicy(max_retry_after=30)
    assert _base.retry_delay(policy, 0, request,
                             response=_reply(429, body, {"Retry-After": "3"})) == 3.0
    assert _base.retry_delay(policy, 0, request,
                             response=_reply(429, body, {"Retry-After": "120"})) is None
    assert _base.retry_delay(RetryPolicy(max_retries=2), 2, request,
                             response=_reply(429, body)) is None


def test_a_create_is_retried_only_when_nothing_was_sent() -> None:
    post = _base.Request("POST", "/v1/videos/text2video")
    get = _base.Request("GET", "/v1/videos/text2video/1")
    refused = httpx.ConnectError("refused")
    dropped = httpx.ReadError("dropped")
    assert _base.retry_delay(RetryPolicy(), 0, post, error=refused) is not None
    assert _base.retry_delay(RetryPolicy(), 0, post, error=dropped) is None
    assert _base.retry_delay(RetryPolicy(), 0, get, error=dropped) is not None


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENKLING_BASE_URL", "https://gw.example/")
    monkeypatch.setenv("OPENKLING_PREFIX", "kling/")
    monkeypatch.setenv("KLING_ACCESS_KEY", "ak")
    monkeypatch.setenv("KLING_SECRET_KEY", SECRET)
    monkeypatch.delenv("OPENKLING_API_KEY", raising=False)
    with KlingClient() as client:
        assert client.config.api_root == "https://gw.example/kling"
        assert isinstance(client.config.credentials, JWTAuth)
    with KlingClient(api_key="k", prefix="") as client:  # arguments beat the environment
        assert client.config.api_root == "https://gw.example"
        assert isinstance(client.config.credentials, APIKeyAuth)


def test_missing_or_mixed_credentials_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENKLING_API_KEY", "KLING_ACCESS_KEY", "KLING_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="no credentials"):
        KlingClient(base_url="http://127.0.0.1:1")
    with pytest.raises(ValueError, match="together"):
        KlingClient(base_url="http://127.0.0.1:1", access_key="ak")
    with pytest.raises(ValueError, match="not both"):
        KlingClient(base_url="http://127.0.0.1:1", api_key="k", access_key="a", secret_key="s")


def test_a_custom_transport_is_used() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        task = {"task_id": "1", "task_status": "submitted", "task_status_msg": "",
                "task_info": {}, "task_result": {}, "created_at": 1, "updated_at": 1}
        return httpx.Response(200, json={"code": 0, "message": "SUCCEED",
                                         "request_id": "r", "data": task})

    with KlingClient(base_url="https://gw.example", prefix="/kling", api_key="k",
                     transport=httpx.MockTransport(handler)) as client:
        task = client.text2video.get("1")
    assert task.task_status is TaskStatus.SUBMITTED
    assert str(seen[0].url) == "https://gw.example/kling/v1/videos/text2video/1"
    assert seen[0].headers["authorization"] == "Bearer k"


def test_an_html_page_is_reported_as_a_wrong_base_url() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>hello</html>",
                              headers={"content-type": "text/html"})

    with KlingClient(base_url="https://example.org", api_key="k",
                     transport=httpx.MockTransport(handler)) as client, \
            pytest.raises(APIError, match="JSON"):
        client.text2video.get("1")


def test_client_imports_nothing_from_the_server() -> None:
    """In a fresh interpreter, importing the SDK must not load any server module."""
    script = (
        "import sys, openkling.client, openkling.client._async, openkling.client._sync\n"
        "server = ('openkling.core', 'openkling.api', 'openkling.store', 'openkling.worker',"
        " 'openkling.storage', 'openkling.providers', 'openkling.config', 'openkling.cli',"
        " 'openkling.assembly', 'fastapi', 'sqlalchemy', 'torch')\n"
        "loaded = sorted(m for m in sys.modules if m in server or m.startswith("
        "tuple(s + '.' for s in server)))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True, timeout=120)
    assert result.stdout.strip() == "", f"server modules loaded: {result.stdout}"


def _task(created_at: int) -> Task:
    return Task.model_validate({"task_id": "1", "task_status": "submitted",
                                "created_at": created_at, "updated_at": created_at})


def test_a_duplicate_is_adopted_only_when_retried_and_recent() -> None:
    body = {"code": 1201, "message": "external_task_id: already used", "request_id": "r",
            "data": None}
    refusal = _reply(400, body)
    assert not _base.refused_as_own_duplicate(refusal)  # no retry: a genuine duplicate
    refusal.extensions[_base.RETRIES] = 1
    assert _base.refused_as_own_duplicate(refusal)
    now_ms = 1_700_000_000_000
    assert _base.adopt_if_ours(_task(now_ms + 50), refusal, now_ms).task_id == "1"
    with pytest.raises(InvalidParameterError):
        _base.adopt_if_ours(_task(now_ms - 3_600_000), refusal, now_ms)


def test_credentials_go_only_to_the_api_origin() -> None:
    with KlingClient(base_url="http://127.0.0.1:8000", prefix="/kling", api_key="k") as client:
        config = client.config
        own = _base.file_url(config, Video(id="v", url="/files/v.mp4?sig=1"))
        assert own == "http://127.0.0.1:8000/files/v.mp4?sig=1"
        assert _base.same_origin(config, own)
        assert not _base.same_origin(config, "https://cdn.example/v.mp4")
        assert not _base.same_origin(config, "http://127.0.0.1:9000/v.mp4")


def test_a_read_timeout_is_retried_for_reads_then_typed() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        raise httpx.ReadTimeout("slow", request=request)

    policy = RetryPolicy(max_retries=2, backoff_initial=0.001, backoff_max=0.002)
    with KlingClient(base_url="http://127.0.0.1:1", api_key="k", retry=policy, timeout=0.5,
                     limits=httpx.Limits(max_connections=1),
                     transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(APITimeoutError):
            client.text2video.get("1")
        assert calls == ["GET"] * 3
        calls.clear()
        with pytest.raises(APITimeoutError):  # a create may have been received: no retry
            client.text2video.create("a cat")
        assert calls == ["POST"]


def test_progress_is_a_whole_percent() -> None:
    wire = {"task_id": "1", "task_status": "processing"}
    assert Task.model_validate({**wire, "progress": 42}).progress == 42
    rounded = Task.model_validate({**wire, "progress": 42.4}).progress  # a lenient gateway
    assert rounded == 42 and type(rounded) is int
    assert Task.model_validate(wire).progress is None


@pytest.mark.parametrize(("given", "expected"), [
    ("clip.mp4", "clip.mp4"),               # a file name is used as it is
    ("new/", "new/7.mp4"),                  # a trailing slash names a folder (the download
                                            # creates it)
    ("existing", "existing/7.mp4"),         # an existing folder, even without the slash
    (None, "7.mp4"),                        # nothing: the current folder
])
def test_download_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                         given: str | None, expected: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "existing").mkdir()
    video = Video(id="v1", url="/files/v1.mp4")
    assert tmp_path / _base.target_path(given, video, "7") == tmp_path / expected
