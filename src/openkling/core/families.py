"""The task families: what each is, declared once; routes, service and providers read this.

A family is a path under `/v1` (and `/kling/v1`), a request model, the kind of result it
makes, the fields that carry input images, and its optional fields: those a provider must
declare it honours, or the create is refused with 400 / 1201 naming the field (an operator
may instead list fields to accept and ignore, which the task then says). Adding a family is
adding an entry to FAMILIES and teaching a provider to run it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from openkling.core.errors import KlingError
from openkling.core.family_requests import (
    Image2VideoRequest,
    ImageGenerationRequest,
    PassThroughRequest,
)
from openkling.core.models import Text2VideoRequest, normalized_request
from openkling.store.tasks import TEXT2VIDEO as TEXT2VIDEO

IMAGE2VIDEO = "videos/image2video"
IMAGES = "images/generations"

#: Fields newer Kling models (kling-v2-6, kling-v3) add to text2video and image2video.
NEWER_VIDEO_FIELDS = ("sound", "voice_list", "multi_shot", "shot_type", "multi_prompt",
                      "watermark_info")
#: Fields a create stores apart from the request (they steer delivery, not generation).
TRANSPORT_FIELDS = ("callback_url", "external_task_id")


@dataclass(frozen=True)
class Family:
    path: str
    request: type[BaseModel]
    result: Literal["videos", "images"]
    #: Fields holding input images (URL or base64): fetched and checked at create, stored.
    image_fields: tuple[str, ...] = ()
    #: Fields that change what is made; a provider honours them or the create is refused.
    optional_fields: tuple[str, ...] = ()
    #: The stored form of a request: defaults applied, images and transport fields apart.
    normalize: Callable[[Any, str], dict[str, Any]] | None = None

    @property
    def kind(self) -> str:
        """The task's `kind` column: the family path."""
        return self.path


def _set(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


#: Values that ask for nothing: what clients send by default for a feature they do not use
#: (field -> whether this value, in this body, is such a value). They are accepted by every
#: provider and change nothing; any other value of the field asks for the feature.
ASKS_NOTHING: Mapping[str, Callable[[Any, Mapping[str, Any]], bool]] = {
    "sound": lambda value, _: value == "off",
    "multi_shot": lambda value, _: value is False,
    "watermark_info": lambda value, _: isinstance(value, dict) and value.get("enabled") is False,
    # Kling applies the fidelities to a reference image: without one they change nothing
    # (the official image node sends human_fidelity 0.45 on every call).
    "image_fidelity": lambda _, body: not _set(body.get("image")),
    "human_fidelity": lambda _, body: not (_set(body.get("image"))
                                           and _set(body.get("image_reference"))),
}


def asks_for(name: str, value: Any, body: Mapping[str, Any]) -> bool:
    """Whether `value` of the field `name` asks for something (see ASKS_NOTHING)."""
    if not _set(value):
        return False
    neutral = ASKS_NOTHING.get(name)
    return neutral is None or not neutral(value, body)


def requested_optional(family: Family, req: BaseModel) -> list[str]:
    """The optional fields this request sets to a value that asks for something (declared
    fields and kept extras alike)."""
    values = {**req.model_dump(exclude_none=True), **(req.model_extra or {})}
    return [name for name in family.optional_fields if asks_for(name, values.get(name), values)]


def check_honoured(family: Family, req: BaseModel, honoured: Iterable[str], *,
                   who: str, accept_ignored: Iterable[str] = ()) -> list[str]:
    """Refuse (400 / 1201) the first optional field set that `who` cannot honour, unless the
    operator accepts it to be ignored; returns the fields that will be ignored."""
    honoured, accepted = set(honoured), set(accept_ignored)
    ignored = []
    for name in requested_optional(family, req):
        if name in honoured:
            continue
        if name in accepted:
            ignored.append(name)
            continue
        raise KlingError.invalid(name, f"not supported by {who} for {family.path}")
    return ignored


def _image2video(req: Image2VideoRequest, model_name: str) -> dict[str, Any]:
    return {
        "model_name": model_name,
        "prompt": req.prompt or "",
        "negative_prompt": req.negative_prompt or None,
        "cfg_scale": 0.5 if req.cfg_scale is None else req.cfg_scale,
        "mode": req.mode or "std",
        "duration": int(req.duration or "5"),
        "static_mask": req.static_mask,
        "dynamic_masks": ([m.model_dump() for m in req.dynamic_masks]
                          if req.dynamic_masks else None),
        "camera_control": (req.camera_control.model_dump(exclude_none=True)
                           if req.camera_control else None),
        **req.extras(),
    }


def _images(req: ImageGenerationRequest, model_name: str) -> dict[str, Any]:
    return {
        "model_name": model_name,
        "prompt": req.prompt,
        "negative_prompt": req.negative_prompt or None,
        "image_reference": req.image_reference,
        "image_fidelity": 0.5 if req.image_fidelity is None else req.image_fidelity,
        "human_fidelity": req.human_fidelity,
        "resolution": req.resolution or "1k",
        "n": req.n or 1,
        "aspect_ratio": req.aspect_ratio or "16:9",
        **req.extras(),
    }


def _pass_through(req: PassThroughRequest, model_name: str) -> dict[str, Any]:
    body = req.model_dump(exclude_none=True, exclude=set(TRANSPORT_FIELDS))
    if "duration" in body:  # stored as a number like every family's; a relay sends "5"
        body["duration"] = int(body["duration"])
    return {**body, "model_name": model_name}


def _text2video(req: Text2VideoRequest, model_name: str) -> dict[str, Any]:
    extras = {k: v for k, v in (req.model_extra or {}).items() if k in NEWER_VIDEO_FIELDS}
    return {**normalized_request(req, model_name), **extras}


def _relay_only(path: str) -> Family:
    result: Literal["videos", "images"] = "images" if path.startswith("images/") else "videos"
    return Family(path=path, request=PassThroughRequest, result=result, normalize=_pass_through)


FAMILIES: dict[str, Family] = {
    TEXT2VIDEO: Family(
        path=TEXT2VIDEO, request=Text2VideoRequest, result="videos",
        optional_fields=("camera_control", *NEWER_VIDEO_FIELDS), normalize=_text2video,
    ),
    IMAGE2VIDEO: Family(
        path=IMAGE2VIDEO, request=Image2VideoRequest, result="videos",
        image_fields=("image", "image_tail"),
        optional_fields=("image_tail", "static_mask", "dynamic_masks", "camera_control",
                         *NEWER_VIDEO_FIELDS),
        normalize=_image2video,
    ),
    IMAGES: Family(
        path=IMAGES, request=ImageGenerationRequest, result="images",
        image_fields=("image",),
        optional_fields=("image", "image_reference", "human_fidelity"),
        normalize=_images,
    ),
    **{path: _relay_only(path) for path in (
        "videos/omni-video", "videos/multi-image2video", "videos/video-extend",
        "videos/lip-sync", "videos/effects", "images/kolors-virtual-try-on",
    )},
}


#: What a provider that declares nothing is taken to serve: text2video, checking its own
#: fields in `check` (the behaviour before families existed).
LEGACY_FAMILIES: Mapping[str, frozenset[str]] = {
    TEXT2VIDEO: frozenset(FAMILIES[TEXT2VIDEO].optional_fields),
}


def provider_families(provider: object) -> Mapping[str, frozenset[str]]:
    """Family path -> the optional fields `provider` honours (its `families` attribute)."""
    declared = getattr(provider, "families", None)
    return declared if isinstance(declared, Mapping) else LEGACY_FAMILIES
