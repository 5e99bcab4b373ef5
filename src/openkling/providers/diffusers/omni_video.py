"""`videos/omni-video` (kling-video-o1) on Wan VACE (`WanVACEPipeline`): the Kling -> pipeline
mapping, and the first/end-frame conditioning the model process gives the pipeline.

Kling's `image_list[{image_url, type}]` (at most 7 images) splits by `type`:

- no `type`: a reference image (a subject, scene or style): the pipeline's
  `reference_images`, in the client's order;
- `first_frame` / `end_frame`: VACE's conditioning `video` and `mask`: the image (cropped to
  the frame's shape and resized to it) is the first / last conditioning frame, its mask black
  (keep); every other frame is neutral grey (what WanVACEPipeline's own first/last-frame
  example and its empty conditioning hold) with a white mask (generate). An `end_frame`
  needs a `first_frame`, and is refused beside any third image (Kling's rules).

`prompt` is required (<= 2500 characters); `<<<image_N>>>` (1-based, into `image_list`)
becomes plain words, since the text encoder sees no numbering: "the first frame", "the
last frame", or "image N" for a reference image; an `N` beyond the list is refused, and so
is any `<<<element_N>>>` / `<<<video_N>>>` (there is no element library, nor input video,
here). `negative_prompt`, `cfg_scale` (guidance), `mode` (steps) and `duration` (3..10 s:
frames at the model's fps and frame step) as on multi-image2video. `aspect_ratio` (16:9, 9:16,
1:1 at the model's size) defaults to 16:9 without a first frame; with one, to the ratio
nearest the first frame's shape.

Refused (400 / 1201 naming the field) when they ask for something: `element_list` (Kling's
element library: none here), `video_list` (input videos: a VACE video-to-video or extension
mapping would serve them; not done), `sound: "on"` (VACE makes no sound), `multi_shot`,
`shot_type`, `multi_prompt`, and any other field. Values that ask for nothing (`sound:
"off"`, `multi_shot: false`, `watermark_info: {"enabled": false}`, empty lists) are taken.

Pure functions only: no torch here (PIL is imported where the model process calls it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict

from openkling.core.errors import KlingError
from openkling.core.families import asks_for
from openkling.core.models import MAX_PROMPT
from openkling.providers.diffusers.families import (
    SERVER_FIELDS,
    TINY_VACE_DEFAULTS,
    MultiImageOptions,
    ReferenceVideoCall,
)
from openkling.providers.diffusers.mapping import (
    ASPECT_RATIOS,
    MODES,
    frame_count,
    frame_size,
    guidance_scale,
)

IMAGE_LIST = "image_list"
FIRST_FRAME, END_FRAME = "first_frame", "end_frame"
IMAGE_TYPES = (FIRST_FRAME, END_FRAME)
#: Kling's limits for kling-video-o1 (without a reference video; with one, 4 images).
MAX_IMAGES = 7
DURATIONS = (3, 10)
#: The stored fields an omni-video request may carry: Kling's that the model honours and the
#: server's own (`image_list` keeps only what each object holds beside its image).
OMNI_FIELDS = frozenset({"prompt", "negative_prompt", IMAGE_LIST, "mode", "duration",
                         "aspect_ratio", "cfg_scale"}) | SERVER_FIELDS
#: Why a Kling field that asks for something is refused (the others: not taken at all).
WHY_NOT = {
    "element_list": "this server has no element library (Kling's elements live in a Kling "
                    "account: use the relay)",
    "video_list": "the local model takes no input video (use the relay)",
    "sound": "Wan VACE makes no sound; send sound \"off\"",
    "multi_shot": "the local model makes one shot",
    "shot_type": "the local model makes one shot",
    "multi_prompt": "the local model makes one shot from one prompt",
}
REFERENCE = re.compile(r"<<<(image|element|video)_(\d+)>>>")
#: A neutral conditioning frame (diffusers' first/last-frame example: 128 as a PIL colour).
GREY = (128, 128, 128)


class OmniVideoOptions(MultiImageOptions):
    """The omni-video model (`provider_options.diffusers.omni_video`): a Wan VACE pipeline,
    with the same options as multi_image2video's (its own section, so each family may load
    another model)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())


def omni_video_options(raw: dict[str, Any], tiny: bool,
                       text_model: str = "") -> OmniVideoOptions:
    """The omni-video options; with a tiny text-to-video model, the tiny Wan VACE's."""
    return OmniVideoOptions.model_validate({**(TINY_VACE_DEFAULTS if tiny else {}), **raw})


@dataclass(frozen=True)
class OmniVideoCall(ReferenceVideoCall):
    """A reference-image video call plus the frames it starts and ends on (plain data: it
    crosses to the model process)."""

    first_frame_path: str | None = None
    end_frame_path: str | None = None


def _refuse_unhonoured(request: dict[str, Any]) -> None:
    for name in sorted(request):
        if name not in OMNI_FIELDS and asks_for(name, request[name], request):
            why = WHY_NOT.get(name, "the local model takes image_list, prompt, "
                              "negative_prompt, cfg_scale, mode, duration and aspect_ratio")
            raise KlingError.invalid(name, "not supported by the local diffusers provider for "
                                     f"videos/omni-video: {why}")


def image_types(request: dict[str, Any], count: int) -> list[str | None]:
    """Each image's `type` (None: a reference image), in `image_list`'s order; refuses the
    keys and combinations the local model or Kling cannot take."""
    items = request.get(IMAGE_LIST) or []
    if not isinstance(items, list):
        raise KlingError.invalid(IMAGE_LIST, 'must be a list of {"image_url", "type"} objects')
    types: list[str | None] = []
    for index in range(count):
        item = items[index] if index < len(items) and isinstance(items[index], dict) else {}
        for key, value in item.items():
            if key != "type" and asks_for(key, value, item):
                raise KlingError.invalid(f"{IMAGE_LIST}.{index}.{key}", "not supported by the "
                                         "local diffusers provider (each image_list entry "
                                         "takes image_url and type)")
        kind = item.get("type") or None
        if kind is not None and kind not in IMAGE_TYPES:
            raise KlingError.invalid(f"{IMAGE_LIST}.{index}.type",
                                     f"must be {FIRST_FRAME} or {END_FRAME}, or absent")
        types.append(kind)
    if count > MAX_IMAGES:
        raise KlingError.invalid(IMAGE_LIST, f"takes at most {MAX_IMAGES} images")
    for kind in IMAGE_TYPES:
        if types.count(kind) > 1:
            raise KlingError.invalid(IMAGE_LIST, f"takes at most one {kind}")
    if END_FRAME in types:
        if FIRST_FRAME not in types:
            raise KlingError.invalid(IMAGE_LIST, f"an {END_FRAME} needs a {FIRST_FRAME}")
        if count > 2:
            raise KlingError.invalid(IMAGE_LIST, f"takes no {END_FRAME} beside more than 2 "
                                     "images")
    return types


def plain_prompt(prompt: str, types: Sequence[str | None]) -> str:
    """The prompt with each `<<<image_N>>>` named in words; a reference to an image beyond
    the list, or to an element or a video (none here), is refused (naming `prompt`)."""

    def words(match: re.Match[str]) -> str:
        what, number = match.group(1), int(match.group(2))
        if what != "image":
            raise KlingError.invalid("prompt", f"refers to {match.group(0)}, but this server "
                                     f"takes no {what}_list (use the relay)")
        if not 1 <= number <= len(types):
            raise KlingError.invalid("prompt", f"refers to {match.group(0)}, but image_list "
                                     f"has {len(types)} image{'s' * (len(types) != 1)}")
        kind = types[number - 1]
        return {FIRST_FRAME: "the first frame", END_FRAME: "the last frame"}.get(
            kind or "", f"image {number}")

    return REFERENCE.sub(words, prompt)


def nearest_ratio(size: tuple[int, int]) -> str:
    """The video aspect ratio nearest an image's shape (by log ratio; ties to 16:9 first)."""
    shapes = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0}
    shape = math.log(size[0] / size[1])
    return min(ASPECT_RATIOS, key=lambda name: abs(math.log(shapes[name]) - shape))


def _number(request: dict[str, Any], name: str, default: float, low: float,
            high: float) -> float:
    value = request.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise KlingError.invalid(name, f"must be a number from {low:g} to {high:g}")
    return float(value)


def _text(request: dict[str, Any], name: str) -> str | None:
    value = request.get(name)
    if value is not None and (not isinstance(value, str) or len(value) > MAX_PROMPT):
        raise KlingError.invalid(name, f"must be text of at most {MAX_PROMPT} characters")
    return value


def omni_video_call(request: dict[str, Any], *, images: Sequence[tuple[str, tuple[int, int]]],
                    seed: int, options: OmniVideoOptions) -> OmniVideoCall:
    """The whole omni-video mapping: the stored request and its stored images ((path, (width,
    height)), in `image_list`'s order) -> one pipeline call; refuses (400 / 1201) what Kling
    refuses and any field the model cannot honour."""
    _refuse_unhonoured(request)
    types = image_types(request, len(images))
    prompt = _text(request, "prompt")
    if prompt is None or not prompt.strip():
        raise KlingError.invalid("prompt", "is required: the video to make")
    prompt = plain_prompt(prompt, types)
    negative_prompt = _text(request, "negative_prompt")
    mode = request.get("mode") or "std"
    if mode not in MODES:
        raise KlingError.invalid("mode", f"must be one of {', '.join(MODES)}")
    first = types.index(FIRST_FRAME) if FIRST_FRAME in types else None
    end = types.index(END_FRAME) if END_FRAME in types else None
    aspect_ratio = request.get("aspect_ratio") or (
        nearest_ratio(images[first][1]) if first is not None else "16:9")
    if aspect_ratio not in ASPECT_RATIOS:
        raise KlingError.invalid("aspect_ratio", f"must be one of {', '.join(ASPECT_RATIOS)}")
    cfg_scale = _number(request, "cfg_scale", 0.5, 0, 1)
    duration = request.get("duration")
    if duration is None:
        duration = 5
    if isinstance(duration, bool) or not isinstance(duration, int) \
            or not DURATIONS[0] <= duration <= DURATIONS[1]:
        raise KlingError.invalid("duration", f"must be whole seconds from {DURATIONS[0]} to "
                                 f"{DURATIONS[1]}")
    width, height = frame_size(aspect_ratio, options.width, options.height)
    pro = mode == "pro"
    return OmniVideoCall(
        prompt=prompt,
        negative_prompt=negative_prompt or options.negative_prompt,
        width=width,
        height=height,
        num_frames=frame_count(duration, options.fps, options.frame_step),
        num_inference_steps=options.pro_steps if pro else options.std_steps,
        guidance_scale=guidance_scale(cfg_scale, options.guidance_default,
                                      options.guidance_min),
        fps=options.fps,
        seed=seed,
        max_sequence_length=options.max_sequence_length,
        reference_image_paths=[path for (path, _), kind in zip(images, types, strict=True)
                               if kind is None],
        first_frame_path=images[first][0] if first is not None else None,
        end_frame_path=images[end][0] if end is not None else None,
    )


def frame_conditioning(first: Any, last: Any, size: tuple[int, int],
                       num_frames: int) -> tuple[list[Any], list[Any]]:
    """VACE's `video` and `mask` (PIL frames) for a first and/or last frame (PIL images of
    `size`, or None): the given frames kept (mask black), the others neutral grey to be
    generated (mask white)."""
    from PIL import Image

    grey = Image.new("RGB", size, GREY)
    keep, make = Image.new("L", size, 0), Image.new("L", size, 255)
    video, mask = [grey] * num_frames, [make] * num_frames
    for index, frame in ((0, first), (num_frames - 1, last)):
        if frame is not None:
            video[index], mask[index] = frame, keep
    return video, mask
