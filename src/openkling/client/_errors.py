"""Typed errors, one class per Kling code family, so callers can catch what they can act on."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from time import time
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from openkling.client._models import Task


class KlingClientError(Exception):
    """Base of all SDK errors; `code` and `http_status` are None when no reply caused it."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        request_id: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.request_id = request_id
        self.http_status = http_status

    def __str__(self) -> str:
        parts = [self.message]
        if self.code is not None:
            parts.append(f"code {self.code}")
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        if self.request_id:
            parts.append(f"request_id {self.request_id}")
        return parts[0] if len(parts) == 1 else f"{parts[0]} ({', '.join(parts[1:])})"


class APIError(KlingClientError):
    """The server answered with an error envelope (or an error status without one)."""


class AuthenticationError(APIError):
    """1000-1004: the key or token is missing, unknown, badly signed, not yet valid or expired."""


class AccountError(APIError):
    """1100-1103: the account is disabled, in arrears, out of quota or lacks access."""


class QuotaError(AccountError):
    """1102: the resource pack is depleted or expired."""


class InvalidParameterError(APIError):
    """1200-1201: the request or one of its fields is invalid; retrying will not help."""


class NotFoundError(APIError):
    """1202-1203: no such route, or no such task for this account."""


class PolicyError(APIError):
    """1300-1301: a platform or content-safety policy rejected the request."""


class RateLimitError(APIError):
    """1302-1304: too many requests or unfinished tasks; `retry_after` is the server's hint, s."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(APIError):
    """5000-5002 or any HTTP 5xx: the server failed; usually worth retrying later."""


class APIConnectionError(KlingClientError):
    """The server could not be reached (refused, DNS, TLS, dropped connection)."""


class APITimeoutError(APIConnectionError):
    """The server did not answer within the configured timeout."""


class TaskFailedError(KlingClientError):
    """A waited-on task ended `failed`; `task` holds it and `message` its `task_status_msg`."""

    def __init__(self, task: Task) -> None:
        super().__init__(task.task_status_msg or "task failed")
        self.task = task


class WaitTimeoutError(KlingClientError, TimeoutError):
    """`wait` gave up before the task finished; `task` is the last state seen."""

    def __init__(self, task: Task, timeout: float) -> None:
        super().__init__(
            f"task {task.task_id} still {task.task_status.value} after {timeout:g} s"
        )
        self.task = task
        self.timeout = timeout


_FAMILIES: tuple[tuple[range, type[APIError]], ...] = (
    (range(1000, 1100), AuthenticationError),
    (range(1102, 1103), QuotaError),
    (range(1100, 1200), AccountError),
    (range(1200, 1202), InvalidParameterError),
    (range(1202, 1300), NotFoundError),
    (range(1300, 1302), PolicyError),
    (range(1302, 1400), RateLimitError),
    (range(5000, 6000), ServerError),
)

_BY_STATUS: dict[int, type[APIError]] = {
    400: InvalidParameterError,
    401: AuthenticationError,
    403: AccountError,
    404: NotFoundError,
    405: NotFoundError,
    413: InvalidParameterError,
    422: InvalidParameterError,
    429: RateLimitError,
}


def error_class(code: int | None, http_status: int | None) -> type[APIError]:
    """The family for a Kling code; the HTTP status decides when the code is unknown."""
    if code is not None:
        for codes, cls in _FAMILIES:
            if code in codes:
                return cls
    if http_status is not None:
        if http_status >= 500:
            return ServerError
        return _BY_STATUS.get(http_status, APIError)
    return APIError


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The `Retry-After` header as seconds (delta or HTTP date), None when absent or unreadable."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time())


def error_from_response(response: httpx.Response) -> APIError:
    """Build the typed error for a failed reply, reading the Kling envelope when there is one."""
    code: int | None = None
    message = ""
    request_id = response.headers.get("x-request-id")
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        raw_code = body.get("code")
        if isinstance(raw_code, int) and not isinstance(raw_code, bool):
            code = raw_code
        if isinstance(body.get("message"), str):
            message = body["message"]
        if isinstance(body.get("request_id"), str) and body["request_id"]:
            request_id = body["request_id"]
        if not message and isinstance(body.get("detail"), str):
            message = body["detail"]
    if not message:
        message = response.reason_phrase or f"HTTP {response.status_code}"
    cls = error_class(code, response.status_code)
    kwargs: dict[str, Any] = {
        "code": code,
        "request_id": request_id,
        "http_status": response.status_code,
    }
    if cls is RateLimitError:
        return RateLimitError(message, retry_after=retry_after_seconds(response), **kwargs)
    return cls(message, **kwargs)
