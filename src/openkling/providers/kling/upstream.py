"""HTTP calls to one upstream channel, with every failure sorted into what to do about it.

The classes of `UpstreamError` are the decisions the provider takes: wait and retry
(`UpstreamBusy`), retry then fail over (`UpstreamUnavailable`), fail over at once
(`UpstreamChannelError`: credentials, account, access), or fail the task
(`UpstreamRejected`). Messages carry the channel name and the upstream's own words, never a
header, key or token.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

from openkling.core.errors import Code
from openkling.core.kling_jwt import sign_token
from openkling.core.retry_after import parse_retry_after
from openkling.errors import OpenKlingError
from openkling.observability.metrics import RELAY_UPSTREAM_REQUESTS
from openkling.providers.kling.relay_options import ChannelOptions
from openkling.vocabulary import FINISHED, ResultKind, TaskStatus

log = logging.getLogger("openkling.providers.kling")

TERMINAL = FINISHED
_BUSY_CODES = frozenset({Code.RATE_LIMITED, Code.CONCURRENCY_LIMITED})
#: Codes about the account or its credentials, not the request: another channel may serve.
_CHANNEL_CODES = frozenset({
    Code.AUTH_FAILED, Code.AUTH_MISSING, Code.AUTH_INVALID, Code.TOKEN_NOT_YET_VALID,
    Code.TOKEN_EXPIRED, Code.ACCOUNT_EXCEPTION, Code.ACCOUNT_ARREARS, Code.QUOTA_EXHAUSTED,
    Code.NO_ACCESS, Code.IP_POLICY,
})
_REJECT_CODES = frozenset({
    Code.INVALID_REQUEST, Code.INVALID_PARAMETER, Code.METHOD_NOT_VALID, Code.PLATFORM_POLICY,
    Code.CONTENT_POLICY,
})
#: Codes from here up are the upstream's own server-side failures.
_SERVER_CODES_FROM = Code.INTERNAL


class UpstreamError(OpenKlingError):
    def __init__(self, channel: str, message: str, code: int | None = None) -> None:
        super().__init__(f"upstream {channel}: {message}")
        self.channel = channel
        self.upstream_message = message
        self.code = code


class UpstreamBusy(UpstreamError):
    """429 / 1302 / 1303: the account is at its rate or concurrency limit; try later."""

    def __init__(self, channel: str, message: str, code: int | None, retry_after: float | None):
        super().__init__(channel, message, code)
        self.retry_after = retry_after


class UpstreamUnavailable(UpstreamError):
    """5xx, timeout, dropped connection, garbage: worth a retry, then another channel.

    `ambiguous` is True when the request may have reached the upstream and been acted on
    (a read timeout, a connection dropped after sending): a create must then be looked up
    before it is repeated anywhere.
    """

    def __init__(self, channel: str, message: str, code: int | None = None, *,
                 ambiguous: bool = False) -> None:
        super().__init__(channel, message, code)
        self.ambiguous = ambiguous


class UpstreamChannelError(UpstreamError):
    """This channel cannot serve us (credentials, arrears, no access): use another."""


class UpstreamRejected(UpstreamError):
    """The upstream refuses the request itself (bad parameter, content policy)."""


class UpstreamNotFound(UpstreamError):
    """No such upstream task."""


@dataclass(frozen=True)
class UpstreamTask:
    """The parts of an upstream task object the relay uses."""

    task_id: str
    status: str
    status_msg: str
    created_at: int
    updated_at: int
    external_task_id: str | None = None
    progress: float | None = None
    videos: list[dict[str, Any]] = field(default_factory=list)
    #: `task_result.images` of the image families: `{index, url}` each.
    images: list[dict[str, Any]] = field(default_factory=list)
    #: `task_result.audios` of the audio families: `{id, url_mp3, url_wav, duration_*}`.
    audios: list[dict[str, Any]] = field(default_factory=list)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @classmethod
    def from_wire(cls, data: Any) -> UpstreamTask:
        if not isinstance(data, dict) or "task_id" not in data:
            raise ValueError("not a task object")
        info = data.get("task_info") or {}
        result = data.get("task_result") or {}
        if not isinstance(result, dict):
            result = {}
        progress = data.get("progress")
        return cls(
            task_id=str(data["task_id"]),
            status=str(data.get("task_status") or TaskStatus.SUBMITTED),
            status_msg=str(data.get("task_status_msg") or ""),
            created_at=_int(data.get("created_at")),
            updated_at=_int(data.get("updated_at")),
            external_task_id=info.get("external_task_id") if isinstance(info, dict) else None,
            progress=float(progress) if isinstance(progress, int | float) else None,
            videos=_objects(result.get(ResultKind.VIDEOS)),
            images=_objects(result.get(ResultKind.IMAGES)),
            audios=_objects(result.get(ResultKind.AUDIOS)),
        )


def _objects(value: Any) -> list[dict[str, Any]]:
    """The objects of a result list (anything else in it, or a non-list, is ignored)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


class UpstreamClient:
    """The endpoints of one channel, for every task family (`videos/text2video`,
    `images/generations`, ...: the family path after `/v1/`), over a shared connection pool."""

    def __init__(self, options: ChannelOptions, http: httpx.AsyncClient,
                 submit_gate: asyncio.Semaphore, query_gate: asyncio.Semaphore) -> None:
        self.options = options
        self.name = options.name
        self._http = http
        # Requests wait here, not in httpcore's pool (whose queue costs O(waiting x conns)),
        # and status queries never queue behind a burst of creates.
        self._submit_gate = submit_gate
        self._query_gate = query_gate
        self._root = f"{options.base_url}{options.path_prefix}/v1/"

    def endpoint(self, family: str) -> str:
        return self._root + family

    def _headers(self) -> dict[str, str]:
        opts = self.options
        if opts.api_key is not None:
            token = opts.api_key.get_secret_value()
        else:
            assert opts.access_key is not None and opts.secret_key is not None
            token = sign_token(opts.access_key, opts.secret_key.get_secret_value())
        return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def create(self, family: str, body: dict[str, Any]) -> UpstreamTask:
        data = await self._call("POST", self.endpoint(family), json=body,
                                gate=self._submit_gate)
        return self._task(data)

    async def call(self, family: str, action: str, body: dict[str, Any]) -> Any:
        """An immediate call under the family's path (`POST <family>/<action>`): its data."""
        return await self._call("POST", f"{self.endpoint(family)}/{action}", json=body,
                                gate=self._submit_gate)

    async def get(self, family: str, upstream_id: str) -> UpstreamTask:
        return self._task(await self._call("GET", f"{self.endpoint(family)}/{upstream_id}"))

    async def find_external(self, family: str, external_task_id: str) -> UpstreamTask | None:
        """The task submitted with this external id, or None when the upstream has none.

        The path form (`/<family>/{id}`, id = task or external id) is the documented one;
        the query form answers the rare case where the id also names another task.
        """
        endpoint = self.endpoint(family)
        try:
            task = self._task(await self._call("GET", f"{endpoint}/{external_task_id}"))
        except UpstreamNotFound:
            return None
        if task.external_task_id == external_task_id:
            return task
        try:
            data = await self._call(
                "GET", endpoint, params={"external_task_id": external_task_id}
            )
        except UpstreamNotFound:
            return None
        if isinstance(data, dict):
            task = self._task(data)
            return task if task.external_task_id == external_task_id else None
        return None

    async def list_page(self, family: str, page: int, size: int) -> list[UpstreamTask]:
        data = await self._call("GET", self.endpoint(family),
                                params={"pageNum": page, "pageSize": size})
        if not isinstance(data, list):
            raise UpstreamUnavailable(self.name, "list answer is not an array")
        tasks = []
        for item in data:
            try:
                tasks.append(UpstreamTask.from_wire(item))
            except ValueError:
                continue
        return tasks

    def _task(self, data: Any) -> UpstreamTask:
        try:
            return UpstreamTask.from_wire(data)
        except ValueError as exc:
            raise UpstreamUnavailable(self.name, f"malformed task object ({exc})") from None

    async def _call(self, method: str, url: str, gate: asyncio.Semaphore | None = None,
                    **kwargs: Any) -> Any:
        operation = "submit" if method == "POST" else "query"
        try:
            result = await self._request(method, url, gate, **kwargs)
        except UpstreamError:
            RELAY_UPSTREAM_REQUESTS.labels(operation, "error").inc()
            raise
        RELAY_UPSTREAM_REQUESTS.labels(operation, "ok").inc()
        return result

    async def _request(self, method: str, url: str, gate: asyncio.Semaphore | None,
                       **kwargs: Any) -> Any:
        try:
            async with gate or self._query_gate:
                response = await self._http.request(
                    method, url, headers=self._headers(), timeout=self.options.timeout, **kwargs
                )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise UpstreamUnavailable(self.name, f"cannot connect ({type(exc).__name__})") \
                from None
        except httpx.TimeoutException:
            raise UpstreamUnavailable(self.name, "timed out", ambiguous=True) from None
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(
                self.name, f"connection failed ({type(exc).__name__})", ambiguous=True
            ) from None
        return self._classify(response)

    def _classify(self, response: httpx.Response) -> Any:
        status = response.status_code
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            if status >= 500 or status == 200:
                raise UpstreamUnavailable(self.name, f"HTTP {status} without a JSON envelope",
                                          ambiguous=status in (200, 502, 504))
            if status == 429:
                raise UpstreamBusy(self.name, "HTTP 429", None,
                                   parse_retry_after(response.headers.get("Retry-After")))
            if status == 404:
                raise UpstreamNotFound(self.name, "HTTP 404")
            if status in (401, 403):
                raise UpstreamChannelError(self.name, f"HTTP {status}")
            raise UpstreamRejected(self.name, f"HTTP {status}")
        code = payload.get("code")
        message = str(payload.get("message") or "")[:500]
        code = code if isinstance(code, int) else None
        if status == 200 and code == 0:
            return payload.get("data")
        detail = f"{message} (code {code}, HTTP {status})" if message else \
            f"code {code}, HTTP {status}"
        log.info("upstream %s answered HTTP %s code %s", self.name, status, code)
        if code in _BUSY_CODES or (status == 429 and code not in _CHANNEL_CODES):
            raise UpstreamBusy(self.name, detail, code,
                               parse_retry_after(response.headers.get("Retry-After")))
        if code in _CHANNEL_CODES or status in (401, 403):
            raise UpstreamChannelError(self.name, detail, code)
        if code == Code.NOT_FOUND or status == 404:
            raise UpstreamNotFound(self.name, detail, code)
        if status >= 500 or (code is not None and code >= _SERVER_CODES_FROM):
            raise UpstreamUnavailable(self.name, detail, code, ambiguous=status in (502, 504))
        if code in _REJECT_CODES or 400 <= status < 500:
            raise UpstreamRejected(self.name, message or detail, code)
        raise UpstreamUnavailable(self.name, detail, code)

