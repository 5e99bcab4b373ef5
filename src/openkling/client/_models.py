"""Typed views of the Kling wire objects; extra fields are kept so newer servers never break us."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

#: A gateway's `null` list is read as an empty one rather than refused.
_NULL_IS_EMPTY = BeforeValidator(lambda value: [] if value is None else value)


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


class ImageAspectRatio(StrEnum):
    """`images/generations` takes more shapes than the video families."""

    LANDSCAPE = "16:9"
    PORTRAIT = "9:16"
    SQUARE = "1:1"
    FOUR_THREE = "4:3"
    THREE_FOUR = "3:4"
    THREE_TWO = "3:2"
    TWO_THREE = "2:3"
    CINEMA = "21:9"


class Resolution(StrEnum):
    ONE_K = "1k"
    TWO_K = "2k"


class ImageReference(StrEnum):
    """What a reference image of `images/generations` constrains."""

    SUBJECT = "subject"
    FACE = "face"


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


class CreateParams(BaseModel):
    """A create body; only fields the caller set are sent, so the server's defaults apply."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model_name: str | None = None
    callback_url: str | None = None
    external_task_id: str | None = None

    def to_body(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class _VideoParams(CreateParams):
    """Fields the video families share."""

    negative_prompt: str | None = None
    cfg_scale: float | None = None
    mode: Mode | None = None
    duration: str | None = None
    camera_control: CameraControl | None = None

    @field_validator("duration", mode="before")
    @classmethod
    def _duration_as_string(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value


class Text2VideoParams(_VideoParams):
    prompt: str
    aspect_ratio: AspectRatio | None = None


class Image2VideoParams(_VideoParams):
    """`image`/`image_tail` arrive here already as the wire's string (URL or raw base64)."""

    image: str | None = None
    image_tail: str | None = None
    prompt: str | None = None
    static_mask: str | None = None
    dynamic_masks: list[dict[str, Any]] | None = None


class ImageParams(CreateParams):
    prompt: str
    negative_prompt: str | None = None
    image: str | None = None
    image_reference: ImageReference | None = None
    image_fidelity: float | None = None
    human_fidelity: float | None = None
    resolution: Resolution | None = None
    n: int | None = None
    aspect_ratio: ImageAspectRatio | None = None


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


class Image(BaseModel):
    """One picture of an `images/generations` result."""

    model_config = ConfigDict(extra="allow")

    index: int
    url: str


class TaskInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    external_task_id: str | None = None


class TaskResult(BaseModel):
    model_config = ConfigDict(extra="allow")

    videos: Annotated[list[Video], _NULL_IS_EMPTY] = Field(default_factory=list)
    images: Annotated[list[Image], _NULL_IS_EMPTY] = Field(default_factory=list)


class Task(BaseModel):
    """A task of any family as the server last described it."""

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
    def images(self) -> list[Image]:
        return self.task_result.images

    @property
    def created(self) -> datetime | None:
        return _from_ms(self.created_at)

    @property
    def updated(self) -> datetime | None:
        return _from_ms(self.updated_at)

    def to_wire(self) -> dict[str, Any]:
        """The task as the server sent it (extra fields included), ready for `json.dumps`."""
        return self.model_dump(mode="json", exclude_none=True)


class ResourcePack(BaseModel):
    """One resource pack of `GET /account/costs` (quantities in units, times in ms)."""

    model_config = ConfigDict(extra="allow")

    resource_pack_name: str = ""
    resource_pack_id: str = ""
    resource_pack_type: str = Field("", description='"decreasing_total" or "constant_period".')
    total_quantity: float = 0.0
    remaining_quantity: float = 0.0
    purchase_time: int | None = None
    effective_time: int | None = None
    invalid_time: int | None = Field(None, description="None: the pack never expires.")
    status: str = Field("", description='"toBeOnline", "online", "expired" or "runOut"; a '
                        "string, so a state Kling adds later does not break the client.")

    @field_validator("resource_pack_id", mode="before")
    @classmethod
    def _id_as_string(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @property
    def purchased(self) -> datetime | None:
        return _from_ms(self.purchase_time)

    @property
    def effective(self) -> datetime | None:
        return _from_ms(self.effective_time)

    @property
    def expires(self) -> datetime | None:
        return _from_ms(self.invalid_time)


class AccountCosts(BaseModel):
    """The `data` of `GET /account/costs`: Kling nests its own `code` and `msg` in it."""

    model_config = ConfigDict(extra="allow")

    code: int = 0
    msg: str = ""
    resource_pack_subscribe_infos: Annotated[list[ResourcePack], _NULL_IS_EMPTY] = Field(
        default_factory=list
    )

    @property
    def packs(self) -> list[ResourcePack]:
        return self.resource_pack_subscribe_infos

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _from_ms(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, tz=UTC)
