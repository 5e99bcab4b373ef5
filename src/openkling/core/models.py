"""The text2video request as Kling defines it, and the normalized spec providers receive."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from openkling.vocabulary import FamilyKind

MAX_PROMPT = 2500


CameraType = Literal["simple", "down_back", "forward_up", "right_turn_forward", "left_turn_forward"]
AXES = ("horizontal", "vertical", "pan", "tilt", "roll", "zoom")


def _one_moving_axis_schema(schema: dict[str, Any]) -> None:
    """State "exactly one axis non-zero" in the schema too: one variant per moving axis."""
    schema["oneOf"] = [
        {"properties": {name: {"not": {"const": 0}} if name == axis else {"const": 0}
                        for name in AXES}, "required": [axis]}
        for axis in AXES
    ]


class CameraConfig(BaseModel):
    """Six camera axes; Kling requires exactly one of them to move."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_one_moving_axis_schema)

    horizontal: float = Field(0.0, ge=-10, le=10)
    vertical: float = Field(0.0, ge=-10, le=10)
    pan: float = Field(0.0, ge=-10, le=10)
    tilt: float = Field(0.0, ge=-10, le=10)
    roll: float = Field(0.0, ge=-10, le=10)
    zoom: float = Field(0.0, ge=-10, le=10)

    @model_validator(mode="after")
    def _exactly_one_axis(self) -> CameraConfig:
        moving = [axis for axis in AXES if getattr(self, axis) != 0]
        if len(moving) != 1:
            raise ValueError(
                f"exactly one of {', '.join(AXES)} must be non-zero (got {len(moving)})"
            )
        return self


def _config_only_for_simple_schema(schema: dict[str, Any]) -> None:
    present = [c for c in schema["properties"]["config"]["anyOf"] if c.get("type") != "null"]
    schema["oneOf"] = [
        {"properties": {"type": {"const": "simple"}, "config": present[0]},
         "required": ["type", "config"]},
        {"properties": {"type": {"enum": [t for t in get_args(CameraType) if t != "simple"]},
                        "config": {"type": "null"}}},
    ]


class CameraControl(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_config_only_for_simple_schema)

    type: CameraType
    config: CameraConfig | None = None

    @model_validator(mode="after")
    def _config_only_for_simple(self) -> CameraControl:
        if self.type == "simple" and self.config is None:
            raise ValueError("config is required when type is 'simple'")
        if self.type != "simple" and self.config is not None:
            raise ValueError(f"config must be absent when type is '{self.type}'")
        return self


#: The shape `check_callback_url` accepts (empty: no callback), stated in the schema.
CALLBACK_URL_SCHEMA: dict[str, Any] = {
    "pattern": r"^(https?://([^/?#@\s]*@)?[A-Za-z0-9._~-]+(:[0-9]{1,5})?([/?#]\S*)?)?$"}
CALLBACK_URL_DESCRIPTION = ("http(s) URL to receive status changes (empty: none); its host must "
                            "resolve to public addresses unless the server allows private "
                            "callbacks.")


def cfg_scale_number(value: Any) -> Any:
    """`cfg_scale` as Kling types it: a JSON number (not true/false, not "0.5")."""
    if isinstance(value, bool):
        raise ValueError("must be a number in [0, 1], not a boolean")
    if value is not None and not isinstance(value, int | float):
        raise ValueError("must be a number in [0, 1]")
    return value


class KlingRequest(BaseModel):
    """What every family's create body has (model, callback, the caller's own id), and how
    every family treats the rest: unknown keys are kept (`extra="allow"`): a relay forwards a
    request verbatim, so fields of newer Kling versions reach the real service; a local model
    refuses those it cannot honour (see core/families.py). They never fail validation."""

    model_config = ConfigDict(extra="allow", protected_namespaces=(), populate_by_name=True)

    model_name: str | None = Field(
        None, validation_alias=AliasChoices("model_name", "model"),
        description="Kling model name; the legacy field `model` means the same.",
    )
    callback_url: str | None = Field(None, max_length=2048,
                                     json_schema_extra=CALLBACK_URL_SCHEMA,
                                     description=CALLBACK_URL_DESCRIPTION)
    external_task_id: str | None = Field(None, max_length=128)

    @field_validator("external_task_id", "callback_url")
    @classmethod
    def _empty_is_absent(cls, value: str | None) -> str | None:
        return value if value else None

    @field_validator("model_name", "callback_url", "external_task_id")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        # PostgreSQL text cannot hold NUL, and no client means to send one.
        if value is not None and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value

    def extras(self) -> dict[str, Any]:
        """Fields Kling may know and this model does not declare (forwarded by a relay)."""
        return dict(self.model_extra or {})


def _model_name_example(schema: dict[str, Any]) -> None:
    schema["properties"]["model_name"]["examples"] = ["kling-v1"]


class Text2VideoRequest(KlingRequest):
    """`POST /v1/videos/text2video`: the create body."""

    model_config = ConfigDict(json_schema_extra=_model_name_example)

    prompt: str = Field(..., max_length=MAX_PROMPT, description="What the video shows.",
                        json_schema_extra={"minLength": 1, "pattern": r"\S"})
    negative_prompt: str | None = Field(None, max_length=MAX_PROMPT)
    cfg_scale: float | None = Field(None, ge=0, le=1, description="Prompt adherence, 0..1.")
    mode: Literal["std", "pro"] | None = None
    aspect_ratio: Literal["16:9", "9:16", "1:1"] | None = None
    duration: str | None = Field(
        None, description='Seconds as a string, "5" or "10" (3..15 on newer models).',
        json_schema_extra={"anyOf": [{"type": "string", "enum": ["5", "10"]},
                                     {"type": "integer", "enum": [5, 10]}, {"type": "null"}]},
    )
    camera_control: CameraControl | None = None

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("prompt", "negative_prompt")
    @classmethod
    def _no_nul_in_text(cls, value: str | None) -> str | None:
        return cls._no_nul(value)

    _cfg_scale = field_validator("cfg_scale", mode="before")(cfg_scale_number)
    _duration = field_validator("duration", mode="before")(
        lambda value: parse_duration(value))


def _bad_duration() -> Any:
    raise ValueError('must be a whole number of seconds, e.g. "5" or "10"')


def parse_duration(value: Any) -> str | None:
    """A video duration as every family takes it: "5" or 5 (not "5.0", " 5", true), in
    3..15 s; kept as Kling's string. Which of those a model allows is the registry's call."""
    if value is None:
        return None
    if isinstance(value, bool):
        return _bad_duration()  # type: ignore[no-any-return]
    if isinstance(value, int | float):
        if not math.isfinite(value) or float(value) != int(value):
            _bad_duration()
        seconds = int(value)
    elif isinstance(value, str):
        if not (value.isascii() and value.isdigit()):  # no " 5", no non-ASCII digits
            _bad_duration()
        seconds = int(value)
    else:
        return _bad_duration()  # type: ignore[no-any-return]
    if not 3 <= seconds <= 15:
        raise ValueError('must be "5" or "10" (3..15 on models that allow it)')
    return str(seconds)


@dataclass(frozen=True)
class GenerationSpec:
    """What a provider is asked to make: the request with every default filled in."""

    task_id: str
    model_name: str
    prompt: str
    negative_prompt: str | None
    cfg_scale: float
    mode: str
    aspect_ratio: str
    duration: int
    camera_control: dict[str, Any] | None = None
    #: The task family (its path, e.g. "videos/image2video"; see core/families.py).
    kind: str = FamilyKind.TEXT2VIDEO
    options: dict[str, Any] = field(default_factory=dict)
    #: The whole stored request, for fields beyond text2video's and for verbatim relaying;
    #: `request["inputs"]` maps an image field to its stored copy (`key`, `width`, `height`).
    request: dict[str, Any] = field(default_factory=dict)

    @property
    def inputs(self) -> dict[str, dict[str, Any]]:
        return dict(self.request.get("inputs") or {})

    def request_fields(self) -> dict[str, Any]:
        """The Kling create fields, as a relay would send them upstream."""
        body: dict[str, Any] = {
            "model_name": self.model_name,
            "prompt": self.prompt,
            "cfg_scale": self.cfg_scale,
            "mode": self.mode,
            "aspect_ratio": self.aspect_ratio,
            "duration": str(self.duration),
        }
        if self.negative_prompt:
            body["negative_prompt"] = self.negative_prompt
        if self.camera_control is not None:
            body["camera_control"] = self.camera_control
        return body


def normalized_request(req: Text2VideoRequest, model_name: str) -> dict[str, Any]:
    """The stored form of a request: defaults applied, transport-only fields dropped."""
    return {
        "model_name": model_name,
        "prompt": req.prompt,
        "negative_prompt": req.negative_prompt or None,
        "cfg_scale": 0.5 if req.cfg_scale is None else req.cfg_scale,
        "mode": req.mode or "std",
        "aspect_ratio": req.aspect_ratio or "16:9",
        "duration": int(req.duration or "5"),
        "camera_control": (
            req.camera_control.model_dump(exclude_none=True) if req.camera_control else None
        ),
    }


def _whole_seconds(value: Any) -> int:
    """A stored duration as whole seconds (5 when absent); an audio family keeps its
    duration as sent ("3.5", 3.5, or not a number: its provider checks it), never a 500."""
    try:
        return int(float(value or 5))
    except (TypeError, ValueError, OverflowError):
        return 5


def spec_from_stored(task_id: str, stored: dict[str, Any], options: dict[str, Any], *,
                     kind: str = FamilyKind.TEXT2VIDEO) -> GenerationSpec:
    """The spec of a stored request of any family (fields a family lacks get Kling's
    defaults; the family's own fields are in `request`)."""
    return GenerationSpec(
        task_id=task_id,
        # A relay-only family whose Kling route takes no model keeps the one it was routed
        # by apart (core/families.py ROUTED_MODEL), so that it is not forwarded.
        model_name=stored.get("model_name") or stored["routed_model"],
        prompt=stored.get("prompt") or "",
        negative_prompt=stored.get("negative_prompt"),
        cfg_scale=float(stored.get("cfg_scale", 0.5)),
        mode=stored.get("mode") or "std",
        aspect_ratio=stored.get("aspect_ratio") or "16:9",
        duration=_whole_seconds(stored.get("duration")),
        camera_control=stored.get("camera_control"),
        kind=FamilyKind.TEXT2VIDEO if kind == "text2video" else kind,
        options=dict(options),
        request=dict(stored),
    )
