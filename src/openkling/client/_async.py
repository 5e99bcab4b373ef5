"""The asyncio client; scripts/unasync.py generates `_sync` from it, so edit this one."""

from __future__ import annotations

import asyncio
import builtins
import os
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from openkling.client import _base
from openkling.client._auth import Credentials
from openkling.client._base import (
    ByteProgress,
    FreshUrl,
    GenerateResult,
    ImagesResult,
    PollPolicy,
    Request,
    RetryPolicy,
    TaskProgress,
)
from openkling.client._errors import APIError, error_from_response
from openkling.client._inputs import ImageInput, encode_image
from openkling.client._models import (
    AccountCosts,
    AspectRatio,
    CameraControl,
    CreateParams,
    Image2VideoParams,
    ImageAspectRatio,
    ImageParams,
    ImageReference,
    Mode,
    Resolution,
    Task,
    Text2VideoParams,
    Video,
)


class AsyncKlingClient:
    """A Kling API client for openkling, official Kling, or a `/kling` gateway.

    >>> async with AsyncKlingClient(base_url="http://127.0.0.1:8000", api_key="ok_...") as client:
    ...     result = await client.text2video.generate("a cat surfing", path="cat.mp4")

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
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.config = _base.resolve_config(
            base_url=base_url, prefix=prefix, api_key=api_key, access_key=access_key,
            secret_key=secret_key, token_lifetime=token_lifetime, credentials=credentials,
            retry=retry, max_retries=max_retries, poll=poll, timeout=timeout, headers=headers,
        )
        self._http = httpx.AsyncClient(
            timeout=self.config.timeout,
            limits=limits or httpx.Limits(),
            transport=transport,
            headers=self.config.headers,
        )
        self.text2video = AsyncText2Video(self)
        self.image2video = AsyncImage2Video(self)
        self.images = AsyncImages(self)
        self.account = AsyncAccount(self)

    # -- plumbing --

    async def _send(self, request: Request) -> httpx.Response:
        """One API call with retries; returns the final reply, whatever its status."""
        url = self.config.api_root + request.path
        attempt, refreshed = 0, False
        while True:
            headers = {"Authorization": f"Bearer {self.config.credentials.token()}"}
            try:
                response = await self._http.request(
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
            await asyncio.sleep(delay)

    async def _stream_to(
        self, url: str, path: Path, on_progress: ByteProgress | None
    ) -> Path:
        request = Request("GET", url)
        headers = {"Accept": "*/*"}
        if _base.same_origin(self.config, url):
            headers["Authorization"] = f"Bearer {self.config.credentials.token()}"
        attempt = 0
        while True:
            try:
                async with self._http.stream("GET", url, headers=headers) as response:
                    if response.status_code < 400:
                        sink = _base.FileSink(path, _base.content_length(response), on_progress)
                        try:
                            async for chunk in response.aiter_bytes():
                                sink.write(chunk)
                        except BaseException:
                            sink.abort()
                            raise
                        return sink.commit()
                    await response.aread()
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
            await asyncio.sleep(delay)

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncKlingClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class _AsyncFamily:
    """What every task family has: look-up, listing, cancel and wait. Each family adds its
    own `create` (and `download`, by what its results are)."""

    path: str

    def __init__(self, client: AsyncKlingClient) -> None:
        self._client = client

    async def _create(self, params: type[CreateParams], fields: dict[str, Any]) -> Task:
        request = _base.create_request(self.path, params, fields)
        external_task_id = fields.get("external_task_id")
        started_ms = time.time() * 1000
        response = await self._client._send(request)
        if external_task_id and _base.refused_as_own_duplicate(response):
            found = await self.get(external_task_id=external_task_id)
            return _base.adopt_if_ours(found, response, started_ms)
        return _base.parse_task(response)

    async def get(self, task_id: str | None = None, *, external_task_id: str | None = None) -> Task:
        """One task by its `task_id`, or by the `external_task_id` given at creation."""
        request = _base.get_request(self.path, task_id, external_task_id)
        return _base.parse_task(await self._client._send(request))

    async def list(self, page_num: int = 1, page_size: int = 30) -> builtins.list[Task]:
        """One page of the account's tasks of this family, newest first."""
        request = _base.list_request(self.path, page_num, page_size)
        return _base.parse_tasks(await self._client._send(request))

    async def iter_all(self, page_size: int = 100) -> AsyncIterator[Task]:
        """Every task of the account, page by page; a task shifted onto the next page by a
        newer one is yielded once."""
        seen: set[str] = set()
        for page_num in range(1, _base.MAX_PAGE_NUM + 1):
            page = await self.list(page_num, page_size)
            for task in page:
                if task.task_id not in seen:
                    seen.add(task.task_id)
                    yield task
            if len(page) < page_size:
                return

    async def cancel(self, task_id: str | Task) -> Task:
        """Ask openkling to stop an unfinished task (an openkling extension, not official Kling)."""
        request = _base.cancel_request(self.path, _base.task_id_of(task_id))
        return _base.parse_task(await self._client._send(request))

    async def wait(
        self,
        task: Task | str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - a deadline that keeps the task
        on_progress: TaskProgress | None = None,
        raise_on_failure: bool = True,
    ) -> Task:
        """Poll until the task finishes; raises TaskFailedError on `failed` (unless told not
        to) and WaitTimeoutError after `timeout` seconds."""
        waiter = _base.Waiter(timeout, self._client.config.poll,
                              raise_on_failure=raise_on_failure)
        current = await self.get(_base.task_id_of(task))
        while True:
            if on_progress is not None:
                on_progress(current)
            delay = waiter.after_poll(current)
            if delay is None:
                return current
            await asyncio.sleep(delay)
            current = await self.get(current.task_id)

    async def _save(
        self,
        task: Task | None,
        url: str,
        fresh_url: FreshUrl,
        target: Path,
        on_progress: ByteProgress | None,
    ) -> Path:
        """Stream `url` to `target`; when the server calls the signed URL stale, fetch the
        task again and use the `fresh_url` it gives."""
        try:
            return await self._client._stream_to(url, target, on_progress)
        except APIError as exc:
            if task is None or exc.http_status not in _base.STALE_URL_STATUSES:
                raise
        fresh = await self.get(task.task_id)
        return await self._client._stream_to(fresh_url(fresh), target, on_progress)


class _AsyncVideoFamily(_AsyncFamily):
    """A family whose results are `videos[...]`."""

    async def download(
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
            task = await self.get(task_or_video)
        elif isinstance(task_or_video, Task):
            task = task_or_video
        video = _base.pick_video(task, index) if task else task_or_video
        assert isinstance(video, Video)
        config = self._client.config
        return await self._save(
            task, _base.file_url(config, video),
            lambda fresh: _base.file_url(config, _base.pick_video(fresh, index)),
            _base.target_path(path, video, task.task_id if task else None), on_progress,
        )

    async def _finish(
        self,
        task: Task,
        path: str | os.PathLike[str] | None,
        timeout: float | None,  # noqa: ASYNC109 - a deadline that keeps the task
        on_progress: TaskProgress | None,
        on_download_progress: ByteProgress | None,
    ) -> GenerateResult:
        done = await self.wait(task, timeout=timeout, on_progress=on_progress)
        saved = await self.download(done, path, on_progress=on_download_progress)
        return GenerateResult(done, saved)


class AsyncText2Video(_AsyncVideoFamily):
    """`client.text2video`: videos from a prompt."""

    path = _base.TEXT2VIDEO

    async def create(
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
        return await self._create(Text2VideoParams, {
            "prompt": prompt, "model_name": model_name, "negative_prompt": negative_prompt,
            "cfg_scale": cfg_scale, "mode": mode, "aspect_ratio": aspect_ratio,
            "duration": duration, "camera_control": camera_control,
            "callback_url": callback_url, "external_task_id": external_task_id,
        })

    async def generate(
        self,
        prompt: str,
        *,
        path: str | os.PathLike[str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - a deadline that keeps the task
        on_progress: TaskProgress | None = None,
        on_download_progress: ByteProgress | None = None,
        **fields: Any,
    ) -> GenerateResult:
        """create + wait + download in one call; `fields` are `create`'s keyword arguments."""
        task = await self.create(prompt, **fields)
        return await self._finish(task, path, timeout, on_progress, on_download_progress)


class AsyncImage2Video(_AsyncVideoFamily):
    """`client.image2video`: videos that start (or end) with a given image."""

    path = _base.IMAGE2VIDEO

    async def create(
        self,
        image: ImageInput | None = None,
        prompt: str | None = None,
        *,
        image_tail: ImageInput | None = None,
        model_name: str | None = None,
        negative_prompt: str | None = None,
        cfg_scale: float | None = None,
        mode: Mode | str | None = None,
        duration: int | str | None = None,
        camera_control: CameraControl | Mapping[str, Any] | None = None,
        static_mask: ImageInput | None = None,
        dynamic_masks: Sequence[Mapping[str, Any]] | None = None,
        callback_url: str | None = None,
        external_task_id: str | None = None,
    ) -> Task:
        """Submit a task; returns it `submitted`. `image` (the first frame), `image_tail` (the
        last) and `static_mask` are each a file path, bytes, an http(s) URL or raw base64:
        files and bytes are sent as raw base64, URLs as they are."""
        return await self._create(Image2VideoParams, {
            "image": encode_image("image", image),
            "image_tail": encode_image("image_tail", image_tail),
            "static_mask": encode_image("static_mask", static_mask),
            "dynamic_masks": (None if dynamic_masks is None
                              else [dict(mask) for mask in dynamic_masks]),
            "prompt": prompt, "model_name": model_name, "negative_prompt": negative_prompt,
            "cfg_scale": cfg_scale, "mode": mode, "duration": duration,
            "camera_control": camera_control, "callback_url": callback_url,
            "external_task_id": external_task_id,
        })

    async def generate(
        self,
        image: ImageInput | None = None,
        prompt: str | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - a deadline that keeps the task
        on_progress: TaskProgress | None = None,
        on_download_progress: ByteProgress | None = None,
        **fields: Any,
    ) -> GenerateResult:
        """create + wait + download in one call; `fields` are `create`'s keyword arguments."""
        task = await self.create(image, prompt, **fields)
        return await self._finish(task, path, timeout, on_progress, on_download_progress)


class AsyncImages(_AsyncFamily):
    """`client.images`: pictures from a prompt (`images/generations`)."""

    path = _base.IMAGES

    async def create(
        self,
        prompt: str,
        *,
        n: int | None = None,
        aspect_ratio: ImageAspectRatio | str | None = None,
        resolution: Resolution | str | None = None,
        image: ImageInput | None = None,
        image_reference: ImageReference | str | None = None,
        image_fidelity: float | None = None,
        human_fidelity: float | None = None,
        negative_prompt: str | None = None,
        model_name: str | None = None,
        callback_url: str | None = None,
        external_task_id: str | None = None,
    ) -> Task:
        """Submit a task for `n` images; returns it `submitted`. `image` (a reference) is a
        file path, bytes, an http(s) URL or raw base64."""
        return await self._create(ImageParams, {
            "prompt": prompt, "n": n, "aspect_ratio": aspect_ratio, "resolution": resolution,
            "image": encode_image("image", image), "image_reference": image_reference,
            "image_fidelity": image_fidelity, "human_fidelity": human_fidelity,
            "negative_prompt": negative_prompt, "model_name": model_name,
            "callback_url": callback_url, "external_task_id": external_task_id,
        })

    async def download(
        self,
        task: Task | str,
        folder: str | os.PathLike[str] | None = None,
        *,
        on_progress: ByteProgress | None = None,
    ) -> builtins.list[Path]:
        """Save every image of a finished task as `<folder>/<task_id>_<index>.png` (the
        folder, default the current one, is created when missing); returns the paths by
        index."""
        if isinstance(task, str):
            task = await self.get(task)
        config = self._client.config
        saved: builtins.list[Path] = []
        for image in _base.pick_images(task):
            saved.append(await self._save(
                task, _base.file_url(config, image), _base.fresh_image_url(config, image.index),
                _base.image_path(folder, task.task_id, image), on_progress,
            ))
        return saved

    async def generate(
        self,
        prompt: str,
        *,
        folder: str | os.PathLike[str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - a deadline that keeps the task
        on_progress: TaskProgress | None = None,
        on_download_progress: ByteProgress | None = None,
        **fields: Any,
    ) -> ImagesResult:
        """create + wait + download in one call; `fields` are `create`'s keyword arguments."""
        task = await self.create(prompt, **fields)
        done = await self.wait(task, timeout=timeout, on_progress=on_progress)
        paths = await self.download(done, folder, on_progress=on_download_progress)
        return ImagesResult(done, paths)


class AsyncAccount:
    """`client.account`: what the account holds."""

    def __init__(self, client: AsyncKlingClient) -> None:
        self._client = client

    async def costs(
        self,
        *,
        start_time: int | datetime | None = None,
        end_time: int | datetime | None = None,
        resource_pack_name: str | None = None,
    ) -> AccountCosts:
        """The resource packs whose validity overlaps [start_time, end_time] (Unix ms or
        datetimes; official Kling requires both, openkling lists every pack without them)."""
        request = _base.costs_request(start_time, end_time, resource_pack_name)
        return _base.parse_costs(await self._client._send(request))
