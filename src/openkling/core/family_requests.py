"""Create bodies of the task families beyond text2video, as Kling documents them, on the
common base every family's request has (`core.models.KlingRequest`, text2video's included).

Unknown keys are kept (`extra="allow"`): the relay forwards a request verbatim, and fields of
newer Kling versions must reach the real service. Which optional fields a provider honours is
decided by the provider, not here (see `core.families`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from openkling.core.models import (
    MAX_PROMPT,
    CameraControl,
    KlingRequest,
    cfg_scale_number,
    parse_duration,
)

ImageAspect = Literal["16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9"]


#: The common base of every family's request (`core.models.KlingRequest`, text2video's too),
#: by the name this module's models have always used.
_Common = KlingRequest


class Trajectory(BaseModel):
    model_config = ConfigDict(extra="forbid")
    x: int
    y: int


class DynamicMask(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mask: str
    trajectories: list[Trajectory] = Field(..., min_length=2, max_length=77)


class Image2VideoRequest(_Common):
    """`POST /v1/videos/image2video`."""

    image: str | None = Field(None, description="URL or raw base64 (no data: prefix) of the "
                              "first frame; jpg/jpeg/png, <= 10 MB, sides >= 300 px, aspect "
                              "1:2.5..2.5:1.")
    image_tail: str | None = Field(None, description="The last frame, same rules.")
    prompt: str | None = Field(None, max_length=MAX_PROMPT)
    negative_prompt: str | None = Field(None, max_length=MAX_PROMPT)
    cfg_scale: float | None = Field(None, ge=0, le=1)
    mode: Literal["std", "pro"] | None = None
    duration: str | None = Field(None, description='"5" or "10" (3..15 on newer models).')
    static_mask: str | None = None
    dynamic_masks: list[DynamicMask] | None = Field(None, max_length=6)
    camera_control: CameraControl | None = None

    _duration = field_validator("duration", mode="before")(lambda value: parse_duration(value))
    _cfg_scale = field_validator("cfg_scale", mode="before")(cfg_scale_number)

    @field_validator("image", "image_tail", "static_mask", mode="before")
    @classmethod
    def _blank_is_absent(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _kling_combinations(self) -> Image2VideoRequest:
        if self.image is None and self.image_tail is None:
            raise ValueError("image: at least one of image and image_tail is required")
        chosen = [name for name, value in (
            ("image_tail", self.image_tail),
            ("static_mask/dynamic_masks", self.static_mask or self.dynamic_masks),
            ("camera_control", self.camera_control),
        ) if value]
        if len(chosen) > 1:
            raise ValueError(f"{chosen[0]}: cannot be combined with {', '.join(chosen[1:])} "
                             "(Kling allows one of image_tail, masks and camera_control)")
        return self


class ImageGenerationRequest(_Common):
    """`POST /v1/images/generations`."""

    prompt: str = Field(..., max_length=MAX_PROMPT,
                        json_schema_extra={"minLength": 1, "pattern": r"\S"})
    negative_prompt: str | None = Field(None, max_length=MAX_PROMPT)
    image: str | None = Field(None, description="Reference image: URL or raw base64.")
    image_reference: Literal["subject", "face"] | None = None
    image_fidelity: float | None = Field(None, ge=0, le=1)
    human_fidelity: float | None = Field(None, ge=0, le=1)
    resolution: Literal["1k", "2k"] | None = None
    n: int | None = Field(None, ge=1, le=9)
    aspect_ratio: ImageAspect | None = None

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("image", mode="before")
    @classmethod
    def _blank_is_absent(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("image_fidelity", "human_fidelity", mode="before")
    @classmethod
    def _fidelity_is_a_number(cls, value: Any) -> Any:
        # JSON numbers only, as the schema says (not true/false, not "0.5").
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError("must be a number in [0, 1]")
        return value

    @field_validator("n", mode="before")
    @classmethod
    def _n_is_an_integer(cls, value: Any) -> Any:
        # A JSON integer only, as Kling's `n` is (not true, not "2", not 2.0).
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError("must be an integer in [1, 9]")
        return value


class PassThroughRequest(_Common):
    """Families only a relay serves (omni-video, effects, lip-sync, ...): the body is kept
    as sent and checked by the real service; a top-level video `duration` is read the way
    every family reads it (the model's allowed durations are checked at create)."""

    duration: str | None = Field(None, description='Seconds as a string, "5" or "10" '
                                 "(3..15 on newer models); a number is accepted too.")

    _duration = field_validator("duration", mode="before")(lambda value: parse_duration(value))


class AudioRequest(_Common):
    """Audio families (relay only): the body is kept as sent; their `duration` is seconds of
    sound (a float, e.g. 3.0..10.0), checked by the real service, not a video duration."""



def image_not_blank(value: str) -> str:
    """An image field of a list entry: a URL or raw base64, never blank."""
    if not value.strip():
        raise ValueError("must be an image URL or raw base64, not empty")
    return value

#: Kling's multi-image2video takes up to 4 reference images.
MAX_REFERENCE_IMAGES = 4


class ImageListItem(BaseModel):
    """One object of an `image_list`: its `image` (URL or raw base64, Kling's image rules),
    checked and stored at create; other keys are kept (a relay forwards them)."""

    model_config = ConfigDict(extra="allow")

    image: str = Field(..., description="URL or raw base64 (no data: prefix); jpg/jpeg/png, "
                       "<= 10 MB, sides >= 300 px, aspect 1:2.5..2.5:1.")

    _not_blank = field_validator("image")(image_not_blank)


class MultiImage2VideoRequest(PassThroughRequest):
    """`POST /v1/videos/multi-image2video`: a video of the subjects of up to 4 reference
    images. Only what must be read at create is typed (the images, which are stored apart,
    and the numbers a spec reads); the rest is kept as sent, checked by the real service
    or by a local provider (`prompt` is required there)."""

    image_list: list[ImageListItem] | None = Field(
        None, min_length=1, max_length=MAX_REFERENCE_IMAGES,
        description='Reference images, 1 to 4: [{"image": URL or raw base64}, ...].')
    prompt: str | None = Field(None, max_length=MAX_PROMPT)
    negative_prompt: str | None = Field(None, max_length=MAX_PROMPT)
    cfg_scale: float | None = Field(None, ge=0, le=1)

    _cfg_scale = field_validator("cfg_scale", mode="before")(cfg_scale_number)



class OmniImageItem(BaseModel):
    """One object of omni-video's `image_list`: its `image_url` (URL or raw base64, Kling's
    image rules), checked and stored at create, and its optional `type` (absent: a reference
    image of a subject, scene or style); other keys are kept (a relay forwards them)."""

    model_config = ConfigDict(extra="allow")

    image_url: str = Field(..., description="URL or raw base64 (no data: prefix); jpg/jpeg/"
                           "png, <= 10 MB, sides >= 300 px, aspect 1:2.5..2.5:1.")
    # Not a Literal: a relay forwards a kind Kling adds; the local provider checks it.
    type: str | None = Field(
        None, description="first_frame or end_frame; absent: a reference image.")

    _not_blank = field_validator("image_url")(image_not_blank)


class OmniVideoRequest(PassThroughRequest):
    """`POST /v1/videos/omni-video` (kling-video-o1): a video from a prompt that may name
    images, elements and videos (`<<<image_N>>>`, ...). Only what must be read at create is
    typed (the images, stored apart, and the prompt); the rest (`element_list`,
    `video_list`, `aspect_ratio`, ...) is kept as sent, checked by the real service or by a
    local provider."""

    prompt: str = Field(..., max_length=MAX_PROMPT,
                        json_schema_extra={"minLength": 1, "pattern": r"\S"})
    image_list: list[OmniImageItem] | None = Field(
        None, description='Images: [{"image_url": URL or raw base64, "type": "first_frame" '
        '| "end_frame" (absent: a reference image)}, ...]; Kling takes up to 7.')
    negative_prompt: str | None = Field(None, max_length=MAX_PROMPT)
    cfg_scale: float | None = Field(None, ge=0, le=1)

    _cfg_scale = field_validator("cfg_scale", mode="before")(cfg_scale_number)

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


#: Kling's multi-image2image takes up to 4 subject images (besides a scene and a style).
MAX_SUBJECT_IMAGES = 4


class SubjectImageItem(BaseModel):
    """One object of a `subject_image_list`: its `subject_image` (URL or raw base64, Kling's
    image rules), checked and stored at create; other keys are kept (a relay forwards them)."""

    model_config = ConfigDict(extra="allow")

    subject_image: str = Field(..., description="URL or raw base64 (no data: prefix); "
                               "jpg/jpeg/png, <= 10 MB, sides >= 300 px, aspect 1:2.5..2.5:1.")

    _not_blank = field_validator("subject_image")(image_not_blank)


class MultiImage2ImageRequest(_Common):
    """`POST /v1/images/multi-image2image`: a picture of the subjects of up to 4 images, in
    an optional scene and style. Only what must be read at create is typed (the images,
    stored apart); the rest (`n`, `aspect_ratio`, ...) is kept as sent, checked by the real
    service or by a local provider."""

    subject_image_list: list[SubjectImageItem] | None = Field(
        None, min_length=1, max_length=MAX_SUBJECT_IMAGES,
        description='Subject images, 1 to 4: [{"subject_image": URL or raw base64}, ...].')
    scene_image: str | None = Field(None, description="The scene: URL or raw base64.")
    style_image: str | None = Field(None, description="The style: URL or raw base64.")
    prompt: str | None = Field(None, max_length=MAX_PROMPT)

    @field_validator("scene_image", "style_image", mode="before")
    @classmethod
    def _blank_is_absent(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


#: Kling's omni-image takes up to 10 references, images and elements together.
MAX_OMNI_REFERENCES = 10


class OmniImageRequest(_Common):
    """`POST /v1/images/omni-image`: a picture from a prompt that may name up to 10 images
    and elements (`<<<image_1>>>`, ...). Only what must be read at create is typed (the
    images, stored apart, and the prompt's length); the rest (`element_list`, `n`,
    `resolution`, `aspect_ratio`, ...) is kept as sent, checked by the real service or by a
    local provider (`prompt` is required there)."""

    image_list: list[ImageListItem] | None = Field(
        None, max_length=MAX_OMNI_REFERENCES,
        description='Images the prompt names as <<<image_1>>>, ...: [{"image": URL or raw '
        "base64}, ...]; with element_list at most 10.")
    prompt: str | None = Field(None, max_length=MAX_PROMPT)

    @model_validator(mode="after")
    def _at_most_ten_references(self) -> OmniImageRequest:
        elements = (self.model_extra or {}).get("element_list")
        count = len(self.image_list or ()) + (len(elements) if isinstance(elements, list)
                                              else 0)
        if count > MAX_OMNI_REFERENCES:
            raise ValueError(f"image_list: with element_list at most {MAX_OMNI_REFERENCES} "
                             f"references (got {count})")
        return self
