"""Everything the sync and async clients share: settings, request building, parsing, policies.

The two clients differ only in how they send and sleep; every decision (what to send, whether
to retry, how long to wait, what a reply means) is made here, once.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from openkling import __version__
from openkling.client._auth import APIKeyAuth, Credentials, JWTAuth
from openkling.client._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    InvalidParameterError,
    KlingClientError,
    TaskFailedError,
    WaitTimeoutError,
    error_class,
    error_from_response,
    retry_after_seconds,
)
from openkling.client._models import (
    AccountCosts,
    CreateParams,
    Image,
    Task,
    TaskStatus,
    Video,
)

ENV_BASE_URL = "OPENKLING_BASE_URL"
ENV_PREFIX = "OPENKLING_PREFIX"
ENV_API_KEY = "OPENKLING_API_KEY"
ENV_ACCESS_KEY = "KLING_ACCESS_KEY"
ENV_SECRET_KEY = "KLING_SECRET_KEY"  # noqa: S105 - a variable name, not a secret
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)

#: The API path of each family the client knows, and of the account's resource packs.
TEXT2VIDEO = "/v1/videos/text2video"
IMAGE2VIDEO = "/v1/videos/image2video"
IMAGES = "/v1/images/generations"
ACCOUNT_COSTS = "/v1/account/costs"
#: Kling's documented bound for the list query's page number.
MAX_PAGE_NUM = 1000

#: `on_progress` for `wait`: called with the task after every poll.
TaskProgress = Callable[[Task], None]
#: `on_progress` for `download`: bytes written so far and the total when the server said.
ByteProgress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class GenerateResult:
    """What `generate` made: the finished task and the file it was saved to."""

    task: Task
    path: Path


@dataclass(frozen=True)
class ImagesResult:
    """What `images.generate` made: the finished task and one file per image, by index."""

    task: Task
    paths: list[Path]


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to retry: 429 rate limits, 5xx, and connections that never opened.

    The delay doubles from `backoff_initial` up to `backoff_max` (with jitter), unless the
    server sent `Retry-After`, which wins. A `Retry-After` over `max_retry_after` is not waited
    for: the error is raised so the caller can decide.
    """

    max_retries: int = 3
    backoff_initial: float = 0.5
    backoff_max: float = 8.0
    max_retry_after: float = 60.0

    def backoff(self, attempt: int) -> float:
        base = min(self.backoff_max, self.backoff_initial * 2.0**attempt)
        return float(base * (0.5 + random.random() / 2))


@dataclass(frozen=True)
class PollPolicy:
    """How `wait` polls: start at `initial` seconds, grow by `factor`, never above `maximum`."""

    initial: float = 1.0
    factor: float = 1.5
    maximum: float = 10.0


@dataclass(frozen=True)
class ClientConfig:
    base_url: str
    prefix: str
    credentials: Credentials
    retry: RetryPolicy
    poll: PollPolicy
    timeout: httpx.Timeout
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def api_root(self) -> str:
        return self.base_url + self.prefix


def normalize_prefix(prefix: str) -> str:
    """`kling`, `/kling/` and `/kling` all mean `/kling`; empty means none."""
    prefix = prefix.strip().strip("/")
    return f"/{prefix}" if prefix else ""


def resolve_config(
    *,
    base_url: str | None,
    prefix: str | None,
    api_key: str | None,
    access_key: str | None,
    secret_key: str | None,
    token_lifetime: float,
    credentials: Credentials | None,
    retry: RetryPolicy | None,
    max_retries: int | None,
    poll: PollPolicy | None,
    timeout: float | httpx.Timeout | None,
    headers: Mapping[str, str] | None,
) -> ClientConfig:
    """Arguments first, then the environment (see docs/client.md), then defaults."""
    env = os.environ
    base = (base_url or env.get(ENV_BASE_URL) or DEFAULT_BASE_URL).strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ValueError(f"base_url must start with http:// or https:// (got {base!r})")
    resolved_prefix = normalize_prefix(prefix if prefix is not None else env.get(ENV_PREFIX, ""))
    if credentials is None:
        credentials = _credentials(
            api_key, access_key, secret_key, token_lifetime,
            explicit=any(v is not None for v in (api_key, access_key, secret_key)),
        )
    if retry is None:
        retry = RetryPolicy()
    if max_retries is not None:
        retry = RetryPolicy(max_retries, retry.backoff_initial, retry.backoff_max,
                            retry.max_retry_after)
    if timeout is None:
        resolved_timeout = DEFAULT_TIMEOUT
    elif isinstance(timeout, httpx.Timeout):
        resolved_timeout = timeout
    else:
        resolved_timeout = httpx.Timeout(timeout)
    all_headers = {"User-Agent": f"openkling-client/{__version__}", "Accept": "application/json"}
    all_headers.update(headers or {})
    return ClientConfig(base, resolved_prefix, credentials, retry, poll or PollPolicy(),
                        resolved_timeout, all_headers)


def _credentials(
    api_key: str | None,
    access_key: str | None,
    secret_key: str | None,
    lifetime: float,
    *,
    explicit: bool,
) -> Credentials:
    if not explicit:
        env = os.environ
        api_key = env.get(ENV_API_KEY) or None
        access_key = env.get(ENV_ACCESS_KEY) or None
        secret_key = env.get(ENV_SECRET_KEY) or None
    if access_key or secret_key:
        if not (access_key and secret_key):
            raise ValueError("access_key and secret_key must be given together")
        if api_key:
            raise ValueError("give either api_key or access_key + secret_key, not both")
        return JWTAuth(access_key, secret_key, lifetime=lifetime)
    if api_key:
        return APIKeyAuth(api_key)
    raise ValueError(
        f"no credentials: pass api_key (or access_key and secret_key), or set {ENV_API_KEY} "
        f"(or {ENV_ACCESS_KEY} and {ENV_SECRET_KEY})"
    )


# --- requests -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: dict[str, Any] | None = None
    json: dict[str, Any] | None = None

    @property
    def idempotent(self) -> bool:
        return self.method in ("GET", "HEAD")

    @property
    def repeatable(self) -> bool:
        """Safe to send again after a reply that may hide a success (a 5xx, a dropped
        connection): reads, and creates carrying an `external_task_id`, whose repeat the
        server refuses as a duplicate (and `adopt_if_ours` turns back into the task)."""
        return self.idempotent or bool(self.json and self.json.get("external_task_id"))


def create_request(path: str, params: type[CreateParams], fields: Mapping[str, Any]) -> Request:
    """The create call of the family at `path`; a field the enums or models reject fails here,
    before any traffic."""
    try:
        body = params.model_validate(dict(fields)).to_body()
    except ValidationError as exc:
        raise local_invalid(exc) from None
    return Request("POST", path, json=body)


def local_invalid(exc: ValidationError) -> InvalidParameterError:
    """A client-side check failure, shaped like the server's 1201 so callers catch one type."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "request"
    return InvalidParameterError(f"{where}: {first['msg']}", code=1201)


def get_request(path: str, task_id: str | None, external_task_id: str | None) -> Request:
    """Kling resolves both ids on the path form; ids with a `/` use the query form instead."""
    if (task_id is None) == (external_task_id is None):
        raise ValueError("give exactly one of task_id or external_task_id")
    ident = task_id if task_id is not None else external_task_id
    assert ident is not None
    if not ident:
        raise InvalidParameterError("task id must not be empty", code=1201)
    if external_task_id is not None and "/" in external_task_id:
        return Request("GET", path, params={"external_task_id": external_task_id})
    return Request("GET", f"{path}/{quote(ident, safe='')}")


def list_request(path: str, page_num: int, page_size: int) -> Request:
    return Request("GET", path, params={"pageNum": page_num, "pageSize": page_size})


def cancel_request(path: str, task_id: str) -> Request:
    if not task_id:
        raise InvalidParameterError("task id must not be empty", code=1201)
    return Request("POST", f"{path}/{quote(task_id, safe='')}/cancel")


def costs_request(
    start_time: int | datetime | None,
    end_time: int | datetime | None,
    resource_pack_name: str | None,
) -> Request:
    """`GET /account/costs`; only the bounds given are sent (official Kling wants both)."""
    params: dict[str, Any] = {}
    for name, value in (("start_time", start_time), ("end_time", end_time)):
        if value is not None:
            params[name] = _epoch_ms(name, value)
    if resource_pack_name:
        params["resource_pack_name"] = resource_pack_name
    return Request("GET", ACCOUNT_COSTS, params=params or None)


def _epoch_ms(name: str, value: int | datetime) -> int:
    """Unix milliseconds; a naive datetime is local time, as `datetime.timestamp` reads it."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidParameterError(f"{name}: expected Unix milliseconds or a datetime "
                                    f"(got {value!r})", code=1201)
    return value


# --- replies ------------------------------------------------------------------------------


def parse_data(response: httpx.Response) -> Any:
    """The envelope's `data`, or the typed error for a failed reply (by status or by code)."""
    if response.status_code >= 400:
        raise error_from_response(response)
    try:
        body = response.json()
    except ValueError:
        raise APIError(
            f"expected a JSON reply from {response.request.url}, got "
            f"{response.headers.get('content-type', 'no content type')}",
            http_status=response.status_code,
            request_id=response.headers.get("x-request-id"),
        ) from None
    if not isinstance(body, dict) or "code" not in body:
        raise APIError(
            "the reply is not a Kling envelope (is the base URL or prefix right?)",
            http_status=response.status_code,
            request_id=response.headers.get("x-request-id"),
        )
    code = body.get("code")
    if code != 0:
        # Some gateways answer 200 with an error code inside.
        numeric = code if isinstance(code, int) else None
        cls = error_class(numeric, None)
        raise cls(str(body.get("message") or "request failed"), code=numeric,
                  request_id=body.get("request_id"), http_status=response.status_code)
    return body.get("data")


def parse_task(response: httpx.Response) -> Task:
    data = parse_data(response)
    if isinstance(data, list) and len(data) == 1:
        data = data[0]  # a gateway answering the query form with a one-item list
    return _task(data, response)


def parse_tasks(response: httpx.Response) -> list[Task]:
    data = parse_data(response)
    if isinstance(data, dict):
        # Tolerate a wrapped page ({"tasks": [...]}/{"list": [...]}) as some gateways send.
        for key in ("tasks", "list", "items"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if not isinstance(data, list):
        raise _malformed("a list of tasks", response)
    return [_task(item, response) for item in data]


def parse_costs(response: httpx.Response) -> AccountCosts:
    """`GET /account/costs`'s data; a non-zero code nested in it is raised like the
    envelope's."""
    data = parse_data(response)
    if not isinstance(data, dict):
        raise _malformed("the account's resource packs", response)
    try:
        costs = AccountCosts.model_validate(data)
    except ValidationError as exc:
        raise _malformed(f"the account's resource packs ({exc.errors()[0]['msg']})",
                         response) from None
    if costs.code != 0:
        raise error_class(costs.code, None)(
            costs.msg or "account query failed", code=costs.code,
            request_id=response.headers.get("x-request-id"), http_status=response.status_code,
        )
    return costs


def _task(data: Any, response: httpx.Response) -> Task:
    if not isinstance(data, dict):
        raise _malformed("a task object", response)
    try:
        return Task.model_validate(data)
    except ValidationError as exc:
        raise _malformed(f"a task object ({exc.errors()[0]['msg']})", response) from None


def _malformed(expected: str, response: httpx.Response) -> APIError:
    return APIError(f"the server's data is not {expected}", http_status=response.status_code,
                    request_id=response.headers.get("x-request-id"))


def transport_error(exc: httpx.TransportError, url: str) -> APIConnectionError:
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"no answer from {url} in time ({type(exc).__name__})")
    reason = str(exc) or type(exc).__name__
    return APIConnectionError(f"cannot reach {url}: {reason}")


# --- retries ------------------------------------------------------------------------------


_RETRYABLE_CODES = frozenset({1302, 1303, 5000, 5001, 5002})
_FINAL_429_CODES = frozenset({1100, 1101, 1102, 1103, 1304})


def _envelope_code(response: httpx.Response) -> int | None:
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, int) else None


def should_retry_response(response: httpx.Response) -> bool:
    """Rate limits and server failures; never account problems or anything about the request."""
    status = response.status_code
    if status < 400:
        return False
    code = _envelope_code(response)
    if status == 429:
        return code not in _FINAL_429_CODES
    if status >= 500:
        return code is None or code in _RETRYABLE_CODES or code >= 5000
    return False


#: Where `_send` notes in a reply's `extensions` how many retries it took.
RETRIES = "openkling.retries"


def refused_as_own_duplicate(response: httpx.Response) -> bool:
    """Whether a create was refused as a duplicate `external_task_id` after being retried.

    When a reply is lost (a gateway's 502 after the server created the task), the retry with
    the same `external_task_id` is refused as a duplicate, yet the task the caller wants
    exists; `adopt_if_ours` then decides whether the existing task is that one.
    """
    if not response.extensions.get(RETRIES) or response.status_code != 400:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return (isinstance(body, dict) and body.get("code") == 1201
            and "external_task_id" in str(body.get("message", "")))


#: How much older than this create call (client clock vs server clock) an adopted task may be.
ADOPT_SKEW_MS = 300_000


def adopt_if_ours(found: Task, refusal: httpx.Response, started_ms: float) -> Task:
    """The task an earlier attempt created, unless it predates this call: then the caller
    really did reuse the id, and the refusal stands."""
    if found.created_at is not None and found.created_at >= started_ms - ADOPT_SKEW_MS:
        return found
    raise error_from_response(refusal)


def is_expired_token(response: httpx.Response) -> bool:
    return response.status_code == 401 and _envelope_code(response) == 1004


def retry_delay(
    policy: RetryPolicy,
    attempt: int,
    request: Request,
    *,
    response: httpx.Response | None = None,
    error: httpx.TransportError | None = None,
) -> float | None:
    """Seconds to wait before attempt `attempt + 1`, or None to give up now."""
    if attempt >= policy.max_retries:
        return None
    if response is not None:
        if not should_retry_response(response):
            return None
        if response.status_code >= 500 and not request.repeatable:
            return None  # the create may have happened: a repeat could make a second task
        hinted = retry_after_seconds(response)
        if hinted is not None:
            return hinted if hinted <= policy.max_retry_after else None
        return policy.backoff(attempt)
    if error is not None:
        # A connection that never opened sent nothing, so even a create is safe to repeat.
        never_sent = isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)
        if never_sent or request.repeatable:
            return policy.backoff(attempt)
    return None


# --- waiting ------------------------------------------------------------------------------


class Waiter:
    """The polling state of one `wait`: decides after each poll whether to stop or sleep."""

    def __init__(
        self,
        timeout: float | None,
        poll: PollPolicy,
        *,
        raise_on_failure: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._timeout = timeout
        self._clock = clock
        self._deadline = None if timeout is None else clock() + timeout
        self._next = poll.initial
        self._poll = poll
        self._raise = raise_on_failure

    def after_poll(self, task: Task) -> float | None:
        """None when `task` is finished; otherwise the seconds to sleep before the next poll."""
        if task.task_status is TaskStatus.FAILED and self._raise:
            raise TaskFailedError(task)
        if task.task_status.terminal:
            return None
        delay = self._next
        self._next = min(self._poll.maximum, self._next * self._poll.factor)
        if self._deadline is not None:
            remaining = self._deadline - self._clock()
            if remaining <= 0:
                assert self._timeout is not None
                raise WaitTimeoutError(task, self._timeout)
            delay = min(delay, remaining)
        return delay


def task_id_of(task: Task | str) -> str:
    return task if isinstance(task, str) else task.task_id


# --- downloads ----------------------------------------------------------------------------


def _require_success(task: Task) -> None:
    if task.task_status is not TaskStatus.SUCCEED:
        raise KlingClientError(
            f"task {task.task_id} is {task.task_status.value}, not succeed: nothing to download"
            + (f" ({task.task_status_msg})" if task.task_status_msg else "")
        )


def pick_video(task: Task, index: int) -> Video:
    _require_success(task)
    if not task.videos:
        raise KlingClientError(f"task {task.task_id} succeeded but lists no video")
    try:
        return task.videos[index]
    except IndexError:
        raise KlingClientError(
            f"task {task.task_id} has {len(task.videos)} video(s); no index {index}"
        ) from None


def target_path(path: str | os.PathLike[str] | None, video: Video, task_id: str | None) -> Path:
    """`path` itself, or `<task_id or video id>.mp4` inside it when it names a folder: an
    existing one, or any path written with a trailing separator (`out/`), created if missing."""
    name = f"{task_id or video.id}.mp4"
    if path is None:
        return Path.cwd() / name
    raw = os.fspath(path)
    target = Path(raw).expanduser()
    if raw.endswith(("/", os.sep)) or target.is_dir():
        return target / name
    return target


def pick_images(task: Task) -> list[Image]:
    _require_success(task)
    if not task.images:
        raise KlingClientError(f"task {task.task_id} succeeded but lists no image")
    return sorted(task.images, key=lambda image: image.index)


def image_path(folder: str | os.PathLike[str] | None, task_id: str, image: Image) -> Path:
    """`<folder>/<task_id>_<index>.png`; the folder (default: the current one) is created
    when missing."""
    base = Path.cwd() if folder is None else Path(os.fspath(folder)).expanduser()
    return base / f"{task_id}_{image.index}.png"


#: Where a file is, read from the task fetched again after its signed URL went stale.
FreshUrl = Callable[[Task], str]


def fresh_video_url(config: ClientConfig, index: int) -> FreshUrl:
    return lambda task: file_url(config, pick_video(task, index))


def fresh_image_url(config: ClientConfig, index: int) -> FreshUrl:
    def url(task: Task) -> str:
        for image in pick_images(task):
            if image.index == index:
                return file_url(config, image)
        raise KlingClientError(f"task {task.task_id} no longer lists image {index}")

    return url


class FileSink:
    """Writes a download to `<path>.part` and renames it only when complete."""

    def __init__(self, path: Path, total: int | None, on_progress: ByteProgress | None) -> None:
        self.path = path
        self.total = total
        self.done = 0
        self._on_progress = on_progress
        self._partial = path.with_name(path.name + ".part")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] = self._partial.open("wb")
        if on_progress is not None:
            on_progress(0, total)

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self.done += len(chunk)
        if self._on_progress is not None:
            self._on_progress(self.done, self.total)

    def commit(self) -> Path:
        self._file.close()
        if self.total is not None and self.done != self.total:
            self._partial.unlink(missing_ok=True)
            raise APIConnectionError(
                f"download of {self.path.name} ended after {self.done} of {self.total} bytes"
            )
        os.replace(self._partial, self.path)
        return self.path

    def abort(self) -> None:
        self._file.close()
        self._partial.unlink(missing_ok=True)


def content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length")
    if value is None or response.headers.get("content-encoding"):
        return None
    try:
        return int(value)
    except ValueError:
        return None


def file_url(config: ClientConfig, item: Video | Image) -> str:
    """Absolute URL of a video or image; a relative one is relative to the server's origin."""
    return str(httpx.URL(config.base_url + "/").join(item.url))


def same_origin(config: ClientConfig, url: str) -> bool:
    """Only the API's own origin gets our credentials; a CDN or bucket never does."""
    api, target = httpx.URL(config.base_url), httpx.URL(url)
    return (api.scheme, api.host, api.port) == (target.scheme, target.host, target.port)


#: Statuses that mean a signed video URL went stale: fetch the task again for a fresh one.
STALE_URL_STATUSES = frozenset({401, 403, 404, 410})
