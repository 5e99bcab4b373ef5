"""Typed views of the Kling wire objects; extra fields are kept so newer servers never break us."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class TaskStatus(StrEnum):
    SUBMITTED = "submitted"
    PROCESSING = "processing"
    SUCCEED = "succeed"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (TaskStatus.SUCCEED, TaskStatus.FAILED)


class Mode(StrEnum):
    STD = "std"
    PRO = "pro"


class AspectRatio(StrEnum):
    LANDSCAPE = "16:9"
    PORTRAIT = "9:16"
    SQUARE = "1:1"


class CameraType(StrEnum):
    SIMPLE = "simple"
    DOWN_BACK = "down_back"
    FORWARD_UP = "forward_up"
    RIGHT_TURN_FORWARD = "right_turn_forward"
    LEFT_TURN_FORWARD = "left_turn_forward"


class CameraConfig(BaseModel):
    """The six axes of a `simple` camera move, each in [-10, 10]; Kling wants exactly one set."""

    model_config = ConfigDict(extra="forbid")

    horizontal: float = Field(0.0, ge=-10, le=10)
    vertical: float = Field(0.0, ge=-10, le=10)
    pan: float = Field(0.0, ge=-10, le=10)
    tilt: float = Field(0.0, ge=-10, le=10)
    roll: float = Field(0.0, ge=-10, le=10)
    zoom: float = Field(0.0, ge=-10, le=10)


class CameraControl(BaseModel):
    """`config` goes with `type="simple"` only; the other types are preset moves."""

    model_config = ConfigDict(extra="forbid")

    type: CameraType
    config: CameraConfig | None = None

    @model_validator(mode="after")
    def _config_only_for_simple(self) -> CameraControl:
        if self.type is CameraType.SIMPLE and self.config is None:
            raise ValueError("config is required when type is 'simple'")
        if self.type is not CameraType.SIMPLE and self.config is not None:
            raise ValueError(f"config must be absent when type is '{self.type.value}'")
        return self


class Text2VideoParams(BaseModel):
    """The create body; only fields the caller set are sent, so the server's defaults apply."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    prompt: str
    model_name: str | None = None
    negative_prompt: str | None = None
    cfg_scale: float | None = None
    mode: Mode | None = None
    aspect_ratio: AspectRatio | None = None
    duration: str | None = None
    camera_control: CameraControl | None = None
    callback_url: str | None = None
    external_task_id: str | None = None

    @field_validator("duration", mode="before")
    @classmethod
    def _duration_as_string(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    def to_body(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class Video(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    url: str
    duration: str = ""
    watermark_url: str | None = None

    @field_validator("id", "duration", mode="before")
    @classmethod
    def _as_string(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value

    @property
    def duration_seconds(self) -> float | None:
        try:
            return float(self.duration)
        except ValueError:
            return None


class TaskInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    external_task_id: str | None = None


class TaskResult(BaseModel):
    model_config = ConfigDict(extra="allow")

    videos: list[Video] = Field(default_factory=list)


class Task(BaseModel):
    """A text2video task as the server last described it."""

    model_config = ConfigDict(extra="allow")

    task_id: str
    task_status: TaskStatus
    task_status_msg: str = ""
    task_info: TaskInfo = Field(default_factory=TaskInfo)
    task_result: TaskResult = Field(default_factory=TaskResult)
    created_at: int | None = None
    updated_at: int | None = None
    progress: int | None = Field(
        None, description="openkling's percentage 0..100; absent on official Kling."
    )

    @field_validator("task_id", mode="before")
    @classmethod
    def _id_as_string(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("progress", mode="before")
    @classmethod
    def _whole_percent(cls, value: Any) -> Any:
        """The wire sends an integer; a gateway's `42.5` is rounded rather than refused."""
        if isinstance(value, float):
            return round(value)
        return value

    @field_validator("task_info", "task_result", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value

    @property
    def status(self) -> TaskStatus:
        return self.task_status

    @property
    def is_terminal(self) -> bool:
        return self.task_status.terminal

    @property
    def external_task_id(self) -> str | None:
        return self.task_info.external_task_id

    @property
    def videos(self) -> list[Video]:
        return self.task_result.videos

    @property
    def created(self) -> datetime | None:
        return _from_ms(self.created_at)

    @property
    def updated(self) -> datetime | None:
        return _from_ms(self.updated_at)

    def to_wire(self) -> dict[str, Any]:
        """The task as the server sent it (extra fields included), ready for `json.dumps`."""
        return self.model_dump(mode="json", exclude_none=True)


def _from_ms(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, tz=UTC)
