# Generated from _async.py by scripts/unasync.py: edit that file, then run the script.
"""The blocking client; decisions live in `_base`, this module only sends and sleeps."""

from __future__ import annotations

import builtins
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from openkling.client import _base
from openkling.client._auth import Credentials
from openkling.client._base import (
    ByteProgress,
    GenerateResult,
    PollPolicy,
    Request,
    RetryPolicy,
    TaskProgress,
)
from openkling.client._errors import APIError, error_from_response
from openkling.client._models import AspectRatio, CameraControl, Mode, Task, Video


class KlingClient:
    """A Kling API client for openkling, official Kling, or a `/kling` gateway.

    >>> with KlingClient(base_url="http://127.0.0.1:8000", api_key="ok_...") as client:
    ...     result = client.text2video.generate("a cat surfing", path="cat.mp4")

    Unset arguments come from the environment (`OPENKLING_BASE_URL`, `OPENKLING_PREFIX`,
    `OPENKLING_API_KEY`, `KLING_ACCESS_KEY` + `KLING_SECRET_KEY`); see docs/client.md.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        prefix: str | None = None,
        api_key: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        token_lifetime: float = 1800.0,
        credentials: Credentials | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        poll: PollPolicy | None = None,
        limits: httpx.Limits | None = None,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.config = _base.resolve_config(
            base_url=base_url, prefix=prefix, api_key=api_key, access_key=access_key,
            secret_key=secret_key, token_lifetime=token_lifetime, credentials=credentials,
            retry=retry, max_retries=max_retries, poll=poll, timeout=timeout, headers=headers,
        )
        self._http = httpx.Client(
            timeout=self.config.timeout,
            limits=limits or httpx.Limits(),
            transport=transport,
            headers=self.config.headers,
        )
        self.text2video = Text2Video(self)

    # -- plumbing --

    def _send(self, request: Request) -> httpx.Response:
        """One API call with retries; returns the final reply, whatever its status."""
        url = self.config.api_root + request.path
        attempt, refreshed = 0, False
        while True:
            headers = {"Authorization": f"Bearer {self.config.credentials.token()}"}
            try:
                response = self._http.request(
                    request.method, url, params=request.params, json=request.json,
                    headers=headers,
                )
            except httpx.TransportError as exc:
                delay = _base.retry_delay(self.config.retry, attempt, request, error=exc)
                if delay is None:
                    raise _base.transport_error(exc, url) from exc
            else:
                if _base.is_expired_token(response) and not refreshed:
                    # Clock skew: the server saw our token as expired; sign a new one once.
                    self.config.credentials.invalidate()
                    refreshed = True
                    continue
                delay = _base.retry_delay(self.config.retry, attempt, request, response=response)
                if delay is None:
                    response.extensions[_base.RETRIES] = attempt
                    return response
            attempt += 1
            time.sleep(delay)

    def _stream_to(
        self, url: str, path: Path, on_progress: ByteProgress | None
    ) -> Path:
        request = Request("GET", url)
        headers = {"Accept": "*/*"}
        if _base.same_origin(self.config, url):
            headers["Authorization"] = f"Bearer {self.config.credentials.token()}"
        attempt = 0
        while True:
            try:
                with self._http.stream("GET", url, headers=headers) as response:
                    if response.status_code < 400:
                        sink = _base.FileSink(path, _base.content_length(response), on_progress)
                        try:
                            for chunk in response.iter_bytes():
                                sink.write(chunk)
                        except BaseException:
                            sink.abort()
                            raise
                        return sink.commit()
                    response.read()
                    delay = _base.retry_delay(
                        self.config.retry, attempt, request, response=response
                    )
                    if delay is None:
                        raise error_from_response(response)
            except httpx.TransportError as exc:
                delay = _base.retry_delay(self.config.retry, attempt, request, error=exc)
                if delay is None:
                    raise _base.transport_error(exc, url) from exc
            attempt += 1
            time.sleep(delay)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> KlingClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Text2Video:
    """`client.text2video`: the text-to-video task endpoints."""

    def __init__(self, client: KlingClient) -> None:
        self._client = client

    def create(
        self,
        prompt: str,
        *,
        model_name: str | None = None,
        negative_prompt: str | None = None,
        cfg_scale: float | None = None,
        mode: Mode | str | None = None,
        aspect_ratio: AspectRatio | str | None = None,
        duration: int | str | None = None,
        camera_control: CameraControl | Mapping[str, Any] | None = None,
        callback_url: str | None = None,
        external_task_id: str | None = None,
    ) -> Task:
        """Submit a task; returns it `submitted`. Unset fields take the server's defaults."""
        request = _base.create_request(
            prompt, model_name=model_name, negative_prompt=negative_prompt, cfg_scale=cfg_scale,
            mode=mode, aspect_ratio=aspect_ratio, duration=duration,
            camera_control=camera_control, callback_url=callback_url,
            external_task_id=external_task_id,
        )
        started_ms = time.time() * 1000
        response = self._client._send(request)
        if external_task_id and _base.refused_as_own_duplicate(response):
            found = self.get(external_task_id=external_task_id)
            return _base.adopt_if_ours(found, response, started_ms)
        return _base.parse_task(response)

    def get(self, task_id: str | None = None, *, external_task_id: str | None = None) -> Task:
        """One task by its `task_id`, or by the `external_task_id` given at creation."""
        request = _base.get_request(task_id, external_task_id)
        return _base.parse_task(self._client._send(request))

    def list(self, page_num: int = 1, page_size: int = 30) -> builtins.list[Task]:
        """One page of the account's tasks, newest first."""
        request = _base.list_request(page_num, page_size)
        return _base.parse_tasks(self._client._send(request))

    def iter_all(self, page_size: int = 100) -> Iterator[Task]:
        """Every task of the account, page by page; a task shifted onto the next page by a
        newer one is yielded once."""
        seen: set[str] = set()
        for page_num in range(1, _base.MAX_PAGE_NUM + 1):
            page = self.list(page_num, page_size)
            for task in page:
                if task.task_id not in seen:
                    seen.add(task.task_id)
                    yield task
            if len(page) < page_size:
                return

    def cancel(self, task_id: str | Task) -> Task:
        """Ask openkling to stop an unfinished task (an openkling extension, not official Kling)."""
        request = _base.cancel_request(_base.task_id_of(task_id))
        return _base.parse_task(self._client._send(request))

    def wait(
        self,
        task: Task | str,
        *,
        timeout: float | None = None,
        on_progress: TaskProgress | None = None,
        raise_on_failure: bool = True,
    ) -> Task:
        """Poll until the task finishes; raises TaskFailedError on `failed` (unless told not
        to) and WaitTimeoutError after `timeout` seconds."""
        waiter = _base.Waiter(timeout, self._client.config.poll,
                              raise_on_failure=raise_on_failure)
        current = self.get(_base.task_id_of(task))
        while True:
            if on_progress is not None:
                on_progress(current)
            delay = waiter.after_poll(current)
            if delay is None:
                return current
            time.sleep(delay)
            current = self.get(current.task_id)

    def download(
        self,
        task_or_video: Task | Video | str,
        path: str | os.PathLike[str] | None = None,
        *,
        index: int = 0,
        on_progress: ByteProgress | None = None,
    ) -> Path:
        """Stream a video to disk and return its path. A task id or Task is looked up; when
        its signed URL has gone stale, the task is fetched again for a fresh one."""
        task: Task | None = None
        if isinstance(task_or_video, str):
            task = self.get(task_or_video)
        elif isinstance(task_or_video, Task):
            task = task_or_video
        video = _base.pick_video(task, index) if task else task_or_video
        assert isinstance(video, Video)
        target = _base.target_path(path, video, task.task_id if task else None)
        try:
            return self._client._stream_to(
                _base.video_url(self._client.config, video), target, on_progress
            )
        except APIError as exc:
            if task is None or exc.http_status not in _base.STALE_URL_STATUSES:
                raise
        fresh = _base.pick_video(self.get(task.task_id), index)
        return self._client._stream_to(
            _base.video_url(self._client.config, fresh), target, on_progress
        )

    def generate(
        self,
        prompt: str,
        *,
        path: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        on_progress: TaskProgress | None = None,
        on_download_progress: ByteProgress | None = None,
        **fields: Any,
    ) -> GenerateResult:
        """create + wait + download in one call; `fields` are `create`'s keyword arguments."""
        task = self.create(prompt, **fields)
        done = self.wait(task, timeout=timeout, on_progress=on_progress)
        saved = self.download(done, path, on_progress=on_download_progress)
        return GenerateResult(done, saved)
