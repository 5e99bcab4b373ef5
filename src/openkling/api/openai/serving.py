"""The OpenAI Videos API over the task service: every OpenAI video is an ordinary task.

A create becomes a text2video task (or image2video with `input_reference`) through
`TaskService.create`, with the same keys, queue, workers, quotas and limits as a Kling create.
Its id is `video_` + the task's time-ordered snowflake in 16 hex digits (OpenAI's id shape,
and never a Kling family name under `/v1/videos/`); the same id is its `task_id` on the Kling
routes. What only this door shows (the OpenAI model name, `size`, `seconds`, the remix link)
is kept in the stored request under `FRONT_KEY`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from starlette.responses import RedirectResponse, Response

from openkling.api.openai import mapping
from openkling.api.openai.errors import OpenAIError, parse_as
from openkling.api.openai.media import (
    SPRITESHEET_TYPE,
    THUMBNAIL_TYPE,
    NoFrames,
    PreviewsUnavailable,
    make_previews,
)
from openkling.api.openai.protocol import CreateVideo, ImageReference, Video, VideoStatus
from openkling.api.services import ApiServices
from openkling.core.auth import Principal
from openkling.core.errors import Code, KlingError
from openkling.core.families import FAMILIES, IMAGE2VIDEO, TEXT2VIDEO
from openkling.core.ids import new_task_id
from openkling.core.service import FRONT_KEY
from openkling.store.records import TaskRecord
from openkling.store.retention import preview_key, result_previews, storage_keys
from openkling.store.webhooks import WebhookStore
from openkling.vocabulary import ResultKind, TaskStatus

ID_PREFIX = "video_"
VIDEO_KINDS = (TEXT2VIDEO, IMAGE2VIDEO)
DAY_SECONDS = 24 * 3600
_DATA_URL = re.compile(r"data:image/[A-Za-z0-9.+-]+;base64,(.*)", re.DOTALL)
_STATUS: dict[TaskStatus, VideoStatus] = {
    TaskStatus.SUBMITTED: "queued", TaskStatus.PROCESSING: "in_progress",
    TaskStatus.SUCCEED: "completed", TaskStatus.FAILED: "failed",
}
_PREVIEW_TYPES = {"thumbnail": THUMBNAIL_TYPE, "spritesheet": SPRITESHEET_TYPE}


def new_video_id() -> str:
    """`video_` + the snowflake in 16 hex digits: 22 characters, sorting in creation order."""
    return f"{ID_PREFIX}{int(new_task_id()):016x}"


def video_object(task: TaskRecord, *, retention_days: float) -> Video:
    """The task as OpenAI's Video object."""
    front: dict[str, Any] = dict(task.request.get(FRONT_KEY) or {})
    finished = task.status in (TaskStatus.SUCCEED, TaskStatus.FAILED)
    completed_at = task.updated_at // 1000 if finished else None
    expires_at = None
    if task.status == TaskStatus.SUCCEED and retention_days > 0:
        expires_at = (task.updated_at + int(retention_days * DAY_SECONDS * 1000)) // 1000
    error = None
    if task.status == TaskStatus.FAILED:
        error = {"code": "video_generation_failed",
                 "message": task.status_msg or "the video could not be made"}
    return Video.model_validate({
        "id": task.id,
        "model": str(front.get("model") or task.model_name),
        "status": _STATUS[task.status],
        "progress": task.progress,
        "created_at": task.created_at // 1000,
        "completed_at": completed_at,
        "expires_at": expires_at,
        "prompt": task.request.get("prompt") or None,
        "size": str(front.get("size") or mapping.DEFAULT_SIZE),
        "seconds": str(front.get("seconds") or task.request.get("duration") or ""),
        "remixed_from_video_id": front.get("remixed_from_video_id"),
        "error": error,
    })


@dataclass(frozen=True)
class VideoRequest:
    """What an OpenAI create or remix asks for, before it becomes a Kling request."""

    prompt: str
    model: str
    size: str
    seconds: str
    #: The input image as Kling takes it (a URL, or raw base64), if any.
    image: str | None = None
    remixed_from: str | None = None


class OpenAIVideos:
    """The OpenAI routes' operations, on the API's services."""

    def __init__(self, services: ApiServices) -> None:
        self.services = services
        self._retention = services.settings.retention_days if services.settings else 30.0

    def to_object(self, task: TaskRecord) -> Video:
        return video_object(task, retention_days=self._retention)

    async def create(self, principal: Principal, params: CreateVideo,
                     upload: bytes | None) -> TaskRecord:
        image = (base64.b64encode(upload).decode() if upload is not None
                 else _reference_image(params.input_reference))
        return await self._create(principal, VideoRequest(
            prompt=params.prompt, model=params.model, size=params.size,
            seconds=params.seconds, image=image))

    async def remix(self, principal: Principal, video_id: str, prompt: str) -> TaskRecord:
        """A new video from the original's request with a new prompt (its input image too)."""
        original = await self.get(principal, video_id)
        if original.status != TaskStatus.SUCCEED:
            raise OpenAIError(400, f"Video '{video_id}' is {_STATUS[original.status]}; only "
                              "a completed video can be remixed.", code="video_not_completed")
        front: dict[str, Any] = dict(original.request.get(FRONT_KEY) or {})
        image = None
        inputs = original.request.get("inputs") or {}
        if "image" in inputs:
            data = await self.services.storage.read_bytes(str(inputs["image"]["key"]))
            image = base64.b64encode(data).decode()
        return await self._create(principal, VideoRequest(
            prompt=prompt, model=str(front.get("model") or original.model_name),
            size=str(front.get("size") or mapping.DEFAULT_SIZE),
            seconds=str(front.get("seconds") or mapping.DEFAULT_SECONDS),
            image=image, remixed_from=original.id))

    async def _create(self, principal: Principal, video: VideoRequest) -> TaskRecord:
        services = self.services
        settings, registry = services.settings, services.models
        assert settings is not None and registry is not None
        try:
            model = mapping.map_model(video.model, settings.openai_models, registry.names)
            rule = mapping.map_size(video.size)
            duration = mapping.map_seconds(video.seconds, registry.resolve(model).durations,
                                           model)
        except mapping.MappingError as exc:
            raise OpenAIError.invalid(exc.param, exc.message) from None
        fields: dict[str, Any] = {"model_name": model, "prompt": video.prompt,
                                  "mode": rule.mode, "duration": str(duration)}
        if video.image is None:
            family = FAMILIES[TEXT2VIDEO]
            fields["aspect_ratio"] = rule.aspect_ratio
        else:
            family = FAMILIES[IMAGE2VIDEO]
            fields["image"] = video.image  # the video takes the image's aspect ratio
        request = parse_as(family.request, fields)
        front = {"model": video.model, "size": video.size, "seconds": video.seconds,
                 "remixed_from_video_id": video.remixed_from}
        hook = await WebhookStore(services.db).get(principal.account_id)
        return await services.tasks.create(principal, request, family, front=front,
                                           new_id=new_video_id,
                                           callback_url=hook.url if hook else None)

    async def get(self, principal: Principal, video_id: str) -> TaskRecord:
        try:
            return await self.services.tasks.get_of(principal, video_id, VIDEO_KINDS)
        except KlingError as exc:
            if exc.code == Code.NOT_FOUND:
                raise OpenAIError.not_found(video_id) from None
            raise

    async def page(self, principal: Principal, *, after: str | None, limit: int,
                   ascending: bool) -> tuple[list[TaskRecord], bool]:
        tasks = await self.services.tasks.list_prefixed(
            principal, prefix=ID_PREFIX, kinds=VIDEO_KINDS, after=after, limit=limit + 1,
            ascending=ascending)
        return tasks[:limit], len(tasks) > limit

    async def delete(self, principal: Principal, video_id: str) -> None:
        """Remove a finished video: its files (inputs, result, previews), then its task."""
        task = await self.get(principal, video_id)
        if not task.status.finished:
            raise OpenAIError(409, f"Video '{video_id}' is {_STATUS[task.status]}; it can be "
                              "deleted once it has completed or failed.",
                              code="video_not_finished")
        storage = self.services.storage
        for key in [*storage_keys(task.request, task.result), *result_previews(task.result)]:
            await storage.delete(key)
        if not await self.services.tasks.delete_finished(principal, task, VIDEO_KINDS):
            raise OpenAIError.not_found(video_id)

    async def content(self, principal: Principal, video_id: str, variant: str) -> Response:
        """The MP4 (a redirect to its signed download URL), or a preview made from it."""
        task = await self.get(principal, video_id)
        videos = (task.result or {}).get(ResultKind.VIDEOS) or []
        if task.status != TaskStatus.SUCCEED or not videos:
            raise OpenAIError(400, f"Video '{video_id}' is {_STATUS[task.status]}; its "
                              "content is available once it has completed.",
                              code="video_not_ready")
        item = videos[0]
        key = item.get("storage_key")
        if variant == "video":
            url = self.services.storage.url_for(key) if key else str(item["url"])
            return RedirectResponse(url, status_code=302)
        if not key:
            raise OpenAIError(404, f"the {variant} of video '{video_id}' is not available: "
                              "its file is not stored on this server", param="variant",
                              code="not_found")
        return Response(await self._preview(str(key), variant),
                        media_type=_PREVIEW_TYPES[variant])

    async def _preview(self, video_key: str, variant: str) -> bytes:
        storage = self.services.storage
        key = preview_key(video_key, variant)
        if await storage.exists(key):
            return await storage.read_bytes(key)
        video = await storage.read_bytes(video_key)
        try:
            previews = await asyncio.to_thread(make_previews, video)
        except NoFrames as exc:
            raise OpenAIError(500, str(exc), type="server_error",
                              code="server_error") from None
        except PreviewsUnavailable as exc:
            raise OpenAIError(501, str(exc), type="server_error", param="variant",
                              code="unsupported_variant") from None
        made = {"thumbnail": previews.thumbnail, "spritesheet": previews.spritesheet}
        for name, data in made.items():
            await storage.put_bytes(preview_key(video_key, name), data, _PREVIEW_TYPES[name])
        return made[variant]


def _reference_image(reference: ImageReference | None) -> str | None:
    """`input_reference` given as an object: a URL (fetched by the server, through the
    private-network guard) or a base64 data URL."""
    if reference is None:
        return None
    if reference.file_id:
        raise OpenAIError.invalid("input_reference", "file ids are not supported by this "
                                  "server; upload the image, or give image_url")
    if not reference.image_url:
        raise OpenAIError.invalid("input_reference", "give image_url, or upload the image")
    data = _DATA_URL.fullmatch(reference.image_url)
    if data is None:
        return reference.image_url
    try:
        base64.b64decode(data.group(1), validate=True)
    except binascii.Error:
        raise OpenAIError.invalid("input_reference", "the data URL is not valid base64") from None
    return data.group(1)
