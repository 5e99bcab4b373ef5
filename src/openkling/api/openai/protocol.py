"""OpenAI's Videos API shapes, as the official SDKs type them (`openai/types/video*.py`).

Requests: `CreateVideo` (JSON or multipart form fields), `RemixVideo`. Responses: `Video`,
`VideoList` (the SDK's cursor page), `VideoDeleted`. Unknown request fields are ignored, so
clients of newer SDK versions keep working.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from openkling.api.openai.mapping import DEFAULT_MODEL, DEFAULT_SECONDS, DEFAULT_SIZE
from openkling.core.models import MAX_PROMPT, Text2VideoRequest

VideoStatus = Literal["queued", "in_progress", "completed", "failed"]


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


class ImageReference(BaseModel):
    """`input_reference` as an object: an image URL or a `data:image/...;base64,` URL."""

    model_config = ConfigDict(extra="ignore")

    image_url: str | None = Field(None, max_length=16 * 1024 * 1024)
    file_id: str | None = None


class CreateVideo(BaseModel):
    """`POST /v1/videos` (the image upload, if any, is a separate multipart part)."""

    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    prompt: str = Field(..., min_length=1, max_length=MAX_PROMPT)
    model: str = Field(DEFAULT_MODEL, max_length=64)
    seconds: str = DEFAULT_SECONDS
    size: str = Field(DEFAULT_SIZE, max_length=32)
    input_reference: ImageReference | None = None

    @field_validator("seconds", mode="before")
    @classmethod
    def _seconds_as_string(cls, value: Any) -> Any:
        # The SDK sends a string; a JSON number of whole seconds means the same.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    _prompt_not_blank = field_validator("prompt")(
        Text2VideoRequest._prompt_not_blank.__func__  # type: ignore[attr-defined]
    )
    _nul = field_validator("prompt", "model", "size", "seconds")(_no_nul)


class RemixVideo(BaseModel):
    """`POST /v1/videos/{id}/remix`."""

    model_config = ConfigDict(extra="ignore")

    prompt: str = Field(..., min_length=1, max_length=MAX_PROMPT)

    _blank = field_validator("prompt")(
        Text2VideoRequest._prompt_not_blank.__func__  # type: ignore[attr-defined]
    )
    _nul = field_validator("prompt")(_no_nul)


class VideoError(BaseModel):
    code: str
    message: str


class Video(BaseModel):
    id: str
    object: Literal["video"] = "video"
    model: str
    status: VideoStatus
    progress: int
    created_at: int
    completed_at: int | None = None
    expires_at: int | None = None
    prompt: str | None = None
    size: str
    seconds: str
    remixed_from_video_id: str | None = None
    error: VideoError | None = None


class VideoList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Video]
    first_id: str | None
    last_id: str | None
    has_more: bool


class VideoDeleted(BaseModel):
    id: str
    object: Literal["video.deleted"] = "video.deleted"
    deleted: bool = True
