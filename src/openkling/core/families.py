"""The task families: each is one declaration in FAMILIES, and routes, the poll fast path,
the body limit, the model catalogue, the service and the providers read it.

A family is a path under `/v1` (and `/kling/v1`), a request model, the kind of result it
makes, the fields that carry input images (fetched and stored at create), how many media
files (images, videos, sound) a body may carry inline (its body limit), Kling's model names
for it and the one used when a client sends none, and its optional fields: those a provider
must declare it honours, or the create is refused with 400 / 1201 naming the field (an
operator may instead list fields to accept and ignore, which the task then says). Adding a
family is adding one entry to FAMILIES (a relay-only family: one `_relay_only(...)` line);
a provider serves it once it lists it in its `families`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from pydantic import BaseModel

from openkling.core.errors import KlingError
from openkling.core.family_requests import (
    AudioRequest,
    Image2VideoRequest,
    ImageGenerationRequest,
    MultiImage2ImageRequest,
    MultiImage2VideoRequest,
    OmniImageRequest,
    OmniVideoRequest,
    PassThroughRequest,
)
from openkling.core.models import Text2VideoRequest, normalized_request
from openkling.vocabulary import FamilyKind, ResultKind

TEXT2VIDEO = FamilyKind.TEXT2VIDEO
IMAGE2VIDEO = FamilyKind.IMAGE2VIDEO
IMAGES = FamilyKind.IMAGES
TEXT_TO_AUDIO = FamilyKind.TEXT_TO_AUDIO
EXPAND = FamilyKind.EXPAND
MULTI_IMAGE2VIDEO = FamilyKind.MULTI_IMAGE2VIDEO
VIDEO_EXTEND = FamilyKind.VIDEO_EXTEND
MULTI_IMAGE2IMAGE = FamilyKind.MULTI_IMAGE2IMAGE
OMNI_IMAGE = FamilyKind.OMNI_IMAGE
OMNI_VIDEO = FamilyKind.OMNI_VIDEO
MULTI_ELEMENTS = FamilyKind.MULTI_ELEMENTS

#: Kling's video model names (kling-api.md); clients send them by default.
VIDEO_MODELS = ("kling-v1", "kling-v1-5", "kling-v1-6", "kling-v2-master", "kling-v2-1",
                "kling-v2-1-master", "kling-v2-5-turbo", "kling-v2-6", "kling-v3",
                "kling-video-o1")
#: Kling's image model names.
IMAGE_MODELS = ("kling-v1", "kling-v1-5", "kling-v2", "kling-v2-new", "kling-v2-1",
                "kling-image-o1")
TRY_ON_MODELS = ("kolors-virtual-try-on-v1", "kolors-virtual-try-on-v1-5")
#: Models that take any whole duration in 3..15 s; the others take 5 and 10.
FLEXIBLE_DURATION_MODELS = ("kling-v2-6", "kling-v3", "kling-video-o1")
#: What a client that sends no model gets, on a family whose Kling route names none.
DEFAULT_MODEL = "kling-v1"
#: One image (or other media file) as Kling takes it inline: 10 MB, as base64 (4/3 larger).
MEDIA_BASE64_BYTES = 10 * 1024 * 1024 * 4 // 3 + 1024

#: Fields newer Kling models (kling-v2-6, kling-v3) add to text2video and image2video.
NEWER_VIDEO_FIELDS = ("sound", "voice_list", "multi_shot", "shot_type", "multi_prompt",
                      "watermark_info")
#: Fields a create stores apart from the request (they steer delivery, not generation).
TRANSPORT_FIELDS = ("callback_url", "external_task_id")


@dataclass(frozen=True)
class Family:
    path: str
    request: type[BaseModel]
    result: ResultKind
    #: Fields holding input images (URL or base64): fetched and checked at create, stored.
    image_fields: tuple[str, ...] = ()
    #: Lists of objects holding an image each, as (list field, the image's key in each
    #: object): multi-image2video's `image_list[{image}]`. Each image is fetched, checked and
    #: stored like an image field's, under the name `<list>.<index>.<key>` (core/inputs.py).
    image_lists: tuple[tuple[str, str], ...] = ()
    #: Fields naming one of the account's own videos (an earlier task's result id): looked
    #: up at create among the account's succeeded tasks and kept in the stored request's
    #: `input_videos` (see `core.inputs.find_videos`); a provider that needs the file refuses
    #: the create when it is not there.
    video_fields: tuple[str, ...] = ()
    #: Media files (images, videos, sound) a body may carry inline, anywhere in it, each up
    #: to Kling's 10 MB as base64: the body limit (0: the small limit of text-only bodies).
    media: int = 0
    #: Kling's model names for this family (all of them are served; see `catalogue`).
    models: tuple[str, ...] = ()
    #: The model a create without `model_name` gets (Kling's default for this route).
    default_model: str = DEFAULT_MODEL
    #: Calls under the family's path answered at once, not tasks (`POST <path>/<action>`):
    #: a relay forwards them (multi-elements' selection session).
    actions: tuple[str, ...] = ()
    #: Fields that change what is made; a provider honours them or the create is refused.
    optional_fields: tuple[str, ...] = ()
    #: The stored form of a request: defaults applied, images and transport fields apart.
    normalize: Callable[[Any, str], dict[str, Any]] | None = None

    @property
    def kind(self) -> str:
        """The task's `kind` column: the family path."""
        return self.path

    def body_limit(self, max_body_bytes: int, max_image_body_bytes: int) -> int:
        """The create body limit: the small one for text, else room for every media file
        the family carries, up to the operator's image body limit."""
        if not self.media:
            return max_body_bytes
        return max(max_body_bytes, min(max_image_body_bytes,
                                       max_body_bytes + self.media * MEDIA_BASE64_BYTES))


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
    # (the official image node sends human_fidelity 0.45 on every call), and human_fidelity
    # only to a subject reference (Kling: "only effective when image_reference is subject").
    "image_fidelity": lambda _, body: not _set(body.get("image")),
    "human_fidelity": lambda _, body: not (_set(body.get("image"))
                                           and body.get("image_reference") == "subject"),
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


#: Where a stored request keeps the model it was routed by when the client sent none to a
#: route whose Kling form takes none (never forwarded: see `ROUTED_MODEL` in the relay).
ROUTED_MODEL = "routed_model"


def _pass_through(req: BaseModel, model_name: str, *,
                  names_models: bool = True, images: tuple[str, ...] = (),
                  image_lists: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    # Image fields are stored apart (`inputs`): the relay sends the stored copy back.
    body = req.model_dump(exclude_none=True, exclude={*TRANSPORT_FIELDS, *images})
    for list_name, key in image_lists:
        # Each object keeps its other keys; its image is stored apart likewise.
        if isinstance(body.get(list_name), list):
            body[list_name] = [{k: v for k, v in item.items() if k != key}
                               if isinstance(item, dict) else item
                               for item in body[list_name]]
    if isinstance(req, PassThroughRequest) and req.duration is not None:
        body["duration"] = int(req.duration)  # a number like every video family's; sent "5"
    if not names_models and "model_name" not in body:
        return {**body, ROUTED_MODEL: model_name}  # verbatim: Kling's route takes no model
    return {**body, "model_name": model_name}


def _text2video(req: Text2VideoRequest, model_name: str) -> dict[str, Any]:
    # Every field Kling may know and this model does not declare is kept, as on every
    # family: a relay forwards it; a local model honours the optional ones or refuses them.
    return {**normalized_request(req, model_name), **req.extras()}


def _relay_only(path: str, *, media: int, models: tuple[str, ...] = (),
                default_model: str = DEFAULT_MODEL, actions: tuple[str, ...] = (),
                image_fields: tuple[str, ...] = (),
                image_lists: tuple[tuple[str, str], ...] = (),
                video_fields: tuple[str, ...] = (),
                request: type[BaseModel] | None = None) -> Family:
    """A family kept as sent and forwarded verbatim by a relay; its `image_fields` and
    `image_lists` are checked and stored at create like every family's (a local provider
    reads them)."""
    result = (ResultKind.IMAGES if path.startswith("images/")
              else ResultKind.AUDIOS if path.startswith("audio/") else ResultKind.VIDEOS)
    if request is None:
        request = AudioRequest if result == ResultKind.AUDIOS else PassThroughRequest
    return Family(path=path, request=request,
                  result=result, normalize=partial(_pass_through, names_models=bool(models),
                                                   images=image_fields,
                                                   image_lists=image_lists),
                  media=media, models=models, actions=actions, image_fields=image_fields,
                  image_lists=image_lists, video_fields=video_fields,
                  default_model=models[0] if models else default_model)


FAMILIES: dict[str, Family] = {family.path: family for family in (
    Family(
        path=TEXT2VIDEO, request=Text2VideoRequest, result=ResultKind.VIDEOS, models=VIDEO_MODELS,
        optional_fields=("camera_control", *NEWER_VIDEO_FIELDS), normalize=_text2video,
    ),
    Family(
        path=IMAGE2VIDEO, request=Image2VideoRequest, result=ResultKind.VIDEOS, models=VIDEO_MODELS,
        image_fields=("image", "image_tail"), media=4,  # the frames, static and dynamic masks
        optional_fields=("image_tail", "static_mask", "dynamic_masks", "camera_control",
                         *NEWER_VIDEO_FIELDS),
        normalize=_image2video,
    ),
    Family(
        path=IMAGES, request=ImageGenerationRequest, result=ResultKind.IMAGES, models=IMAGE_MODELS,
        image_fields=("image",), media=1,
        optional_fields=("image", "image_reference", "human_fidelity"),
        normalize=_images,
    ),
    # Relay-only families, with the media files Kling takes inline in one body.
    # Relayed verbatim; the local provider renders it too (Wan VACE: reference images, first
    # and end frames), checking Kling's fields itself (providers/diffusers/omni_video.py).
    _relay_only(OMNI_VIDEO, media=8, request=OmniVideoRequest,
                image_lists=(("image_list", "image_url"),),
                models=("kling-video-o1", *VIDEO_MODELS)),
    # Relayed verbatim; the local provider renders it too (Wan VACE, the images as
    # reference images), checking Kling's fields itself (providers/diffusers/families.py).
    _relay_only(MULTI_IMAGE2VIDEO, media=4, request=MultiImage2VideoRequest,
                image_lists=(("image_list", "image"),),
                models=("kling-v1-6", "kling-v2-1", "kling-v2-master", "kling-v2-1-master")),
    # Relayed verbatim (Kling resolves video_id upstream); the local provider renders it too
    # (LTX-Video conditioned on the video's last frames), from the account's own stored video
    # that `video_id` names (providers/diffusers/extend.py).
    _relay_only(VIDEO_EXTEND, media=0, video_fields=("video_id",)),
    _relay_only("videos/lip-sync", media=2),  # a video and its sound file
    _relay_only("videos/effects", media=2),  # one or two people's images
    _relay_only("videos/avatar/image2video", media=2),  # the image and its sound file
    # Relayed verbatim (the session calls too); the local provider renders it too (a SAM 2
    # selection session, Wan VACE repainting the element: providers/diffusers/selection.py).
    _relay_only(MULTI_ELEMENTS, media=5, models=("kling-v1-6",),
                image_lists=(("image_list", "image"),),
                actions=("init-selection", "add-selection", "delete-selection",
                         "clear-selection", "preview-selection")),
    _relay_only("images/kolors-virtual-try-on", media=2, models=TRY_ON_MODELS),
    # Relayed verbatim; the local provider renders it too (Qwen-Image-Edit Plus, image_list
    # as its input pictures), checking Kling's fields itself (providers/diffusers/omni_image.py).
    _relay_only(OMNI_IMAGE, media=10, request=OmniImageRequest,
                image_lists=(("image_list", "image"),), models=("kling-image-o1",)),
    # Relayed verbatim; the local provider renders it too (Qwen-Image-Edit Plus, the images
    # as its input pictures), checking Kling's fields itself (providers/diffusers/families.py).
    _relay_only(MULTI_IMAGE2IMAGE, media=6,  # 4 subjects, a scene and a style
                request=MultiImage2ImageRequest, image_fields=("scene_image", "style_image"),
                image_lists=(("subject_image_list", "subject_image"),),
                models=("kling-v2", "kling-v2-1", "kling-v1-5")),
    # Relayed verbatim; the local provider renders it too (Qwen-Image inpainting on a
    # padded canvas), checking Kling's fields itself (providers/diffusers/families.py).
    _relay_only(EXPAND, media=1, image_fields=("image",)),
    # Relayed verbatim; the local provider renders it too (Stable Audio Open), checking
    # Kling's two fields itself (providers/diffusers/families.py).
    _relay_only(TEXT_TO_AUDIO, media=0),
    _relay_only("audio/video-to-audio", media=1),  # the video, when sent inline
)}


def catalogue() -> dict[str, tuple[int, ...] | None]:
    """Every Kling model name of every family -> its allowed durations (None: 5 and 10)."""
    return {name: tuple(range(3, 16)) if name in FLEXIBLE_DURATION_MODELS else None
            for family in FAMILIES.values()
            for name in (*family.models, family.default_model)}


def body_limits(max_body_bytes: int, max_image_body_bytes: int) -> dict[str, int]:
    """Each family's create body limit, by family path (see `Family.body_limit`)."""
    return {path: family.body_limit(max_body_bytes, max_image_body_bytes)
            for path, family in FAMILIES.items()}


#: What a provider that declares nothing is taken to serve: text2video, checking its own
#: fields in `check` (the behaviour before families existed).
LEGACY_FAMILIES: Mapping[str, frozenset[str]] = {
    TEXT2VIDEO: frozenset(FAMILIES[TEXT2VIDEO].optional_fields),
}


def provider_families(provider: object) -> Mapping[str, frozenset[str]]:
    """Family path -> the optional fields `provider` honours (its `families` attribute)."""
    declared = getattr(provider, "families", None)
    return declared if isinstance(declared, Mapping) else LEGACY_FAMILIES
