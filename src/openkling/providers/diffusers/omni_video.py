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

`video_list[{video_url, refer_type, keep_original_sound}]` (at most one video): `refer_type:
"base"` (Kling's default) is the video to edit. It is fetched at create past the outbound
guard, probed and stored (as the task's input `SOURCE`, removed with it); its frames,
resampled to the model's rate and size, are VACE's conditioning `video` under an all-white
`mask`, so the pipeline repaints every frame following the prompt while reading the source.
The video made covers the source (3-10 s, Kling's limits) in its shape, as Kling's edit does:
`duration` and `aspect_ratio` are checked but do not apply. Beside a video, `image_list` takes
at most 4 reference images and no first or end frame (Kling's rules). `refer_type:
"feature"` (a video whose motion or camera to follow) and `keep_original_sound: "yes"` are
refused naming them: VACE has no such reference, and makes no sound.

`prompt` is required (<= 2500 characters); `<<<image_N>>>` (1-based, into `image_list`)
becomes plain words, since the text encoder sees no numbering: "the first frame", "the
last frame", or "image N" for a reference image, and `<<<video_1>>>` "the video"; an `N`
beyond the list is refused, and so is any `<<<element_N>>>` (there is no element library
here). `negative_prompt`, `cfg_scale` (guidance), `mode` (steps) and `duration` (3..10 s:
frames at the model's fps and frame step) as on multi-image2video. `aspect_ratio` (16:9, 9:16,
1:1 at the model's size) defaults to 16:9 without a first frame; with one, to the ratio
nearest the first frame's shape.

Refused (400 / 1201 naming the field) when they ask for something: `element_list` (Kling's
element library: none here), `sound: "on"` (VACE makes no sound), `multi_shot`,
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
    size_for_ratio,
)
from openkling.providers.diffusers.mapping import (
    ASPECT_RATIOS,
    MODES,
    frame_count,
    frame_size,
    guidance_scale,
)
from openkling.providers.diffusers.multi_elements import output_frames, span_seconds

IMAGE_LIST = "image_list"
VIDEO_LIST = "video_list"
#: The stored request's input (`inputs`) holding the `video_list` video's normalized copy
#: (the provider stores it at create): its `key`, `width`, `height`, `fps`, `frames`.
SOURCE = "video_list.0.video_url"
BASE, FEATURE = "base", "feature"
VIDEO_KEYS = frozenset({"video_url", "refer_type", "keep_original_sound"})
#: Kling's limits beside a video: 4 images at most, a source of 3 to 10 s.
MAX_IMAGES_WITH_VIDEO = 4
SOURCE_SPAN_S = (3.0, 10.0)
FIRST_FRAME, END_FRAME = "first_frame", "end_frame"
IMAGE_TYPES = (FIRST_FRAME, END_FRAME)
#: Kling's limits for kling-video-o1 (without a reference video; with one, 4 images).
MAX_IMAGES = 7
DURATIONS = (3, 10)
#: The stored fields an omni-video request may carry: Kling's that the model honours and the
#: server's own (`image_list` keeps only what each object holds beside its image).
OMNI_FIELDS = frozenset({"prompt", "negative_prompt", IMAGE_LIST, VIDEO_LIST, "mode",
                         "duration", "aspect_ratio", "cfg_scale"}) | SERVER_FIELDS
#: Why a Kling field that asks for something is refused (the others: not taken at all).
WHY_NOT = {
    "element_list": "this server has no element library (Kling's elements live in a Kling "
                    "account: use the relay)",
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
    #: The video to edit (`video_list`'s base), repainted whole.
    source_path: str | None = None


@dataclass(frozen=True)
class SourceVideo:
    """The stored `video_list` video as the mapping reads it: its path in the work folder and
    what the probe at create found."""

    path: str
    width: int
    height: int
    fps: float
    frames: int

    @property
    def span(self) -> float:
        return span_seconds(self.frames, self.fps)


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


def video_entry(request: dict[str, Any]) -> str | None:
    """The URL of the `video_list` video to edit (None: no video asked for); refuses what
    Kling or the local model cannot take, naming the field."""
    items = request.get(VIDEO_LIST)
    if not asks_for(VIDEO_LIST, items, request):
        return None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise KlingError.invalid(VIDEO_LIST, 'must be a list of {"video_url", "refer_type", '
                                 '"keep_original_sound"} objects')
    if len(items) > 1:
        raise KlingError.invalid(VIDEO_LIST, "takes at most 1 video")
    item, where = items[0], f"{VIDEO_LIST}.0"
    url = item.get("video_url")
    if not isinstance(url, str) or not url.strip():
        raise KlingError.invalid(f"{where}.video_url", "is required: the URL of the video "
                                 "to edit (MP4 or MOV)")
    refer_type = item.get("refer_type") or BASE
    if refer_type not in (BASE, FEATURE):
        raise KlingError.invalid(f"{where}.refer_type", f"must be {BASE} or {FEATURE}")
    if refer_type == FEATURE:
        raise KlingError.invalid(f"{where}.refer_type", "feature (a video whose motion or "
                                 "camera to follow) is not supported by the local diffusers "
                                 "provider; base (the video to edit) is (or use the relay)")
    sound = item.get("keep_original_sound")
    if sound not in (None, "", "no", "yes"):
        raise KlingError.invalid(f"{where}.keep_original_sound", "must be yes or no")
    if sound == "yes":
        raise KlingError.invalid(f"{where}.keep_original_sound", "the local model makes a "
                                 "silent video: send no (or use the relay)")
    for key in sorted(item):
        if key not in VIDEO_KEYS and asks_for(key, item[key], item):
            raise KlingError.invalid(f"{where}.{key}", "not supported by the local diffusers "
                                     "provider (a video_list entry takes video_url, "
                                     "refer_type and keep_original_sound)")
    return url.strip()


def plain_prompt(prompt: str, types: Sequence[str | None], videos: int = 0) -> str:
    """The prompt with each `<<<image_N>>>` and `<<<video_N>>>` named in words; a reference
    beyond its list, or to an element (none here), is refused (naming `prompt`)."""

    def words(match: re.Match[str]) -> str:
        what, number = match.group(1), int(match.group(2))
        if what == "video":
            if not 1 <= number <= videos:
                raise KlingError.invalid("prompt", f"refers to {match.group(0)}, but "
                                         f"video_list has {videos} video"
                                         f"{'s' * (videos != 1)}")
            return "the video"
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


@dataclass(frozen=True)
class _Checked:
    """What the checks that need no stored video read: the URL of the video to edit, each
    image's type, the prompt in words."""

    video_url: str | None
    types: list[str | None]
    prompt: str


def check_fields(request: dict[str, Any], image_count: int) -> str | None:
    """Every check that needs no stored video (the create runs it before fetching one);
    the URL of the video to edit, if any."""
    return _checked(request, image_count).video_url


def _checked(request: dict[str, Any], image_count: int) -> _Checked:
    _refuse_unhonoured(request)
    video_url = video_entry(request)
    types = image_types(request, image_count)
    if video_url is not None:
        if any(kind is not None for kind in types):
            raise KlingError.invalid(IMAGE_LIST, "takes no first_frame or end_frame beside a "
                                     "video to edit (reference images only)")
        if image_count > MAX_IMAGES_WITH_VIDEO:
            raise KlingError.invalid(IMAGE_LIST, f"takes at most {MAX_IMAGES_WITH_VIDEO} "
                                     "images beside a video")
    prompt = _text(request, "prompt")
    if prompt is None or not prompt.strip():
        raise KlingError.invalid("prompt", "is required: the video to make")
    prompt = plain_prompt(prompt, types, 0 if video_url is None else 1)
    _text(request, "negative_prompt")
    if (request.get("mode") or "std") not in MODES:
        raise KlingError.invalid("mode", f"must be one of {', '.join(MODES)}")
    aspect_ratio = request.get("aspect_ratio")
    if aspect_ratio is not None and aspect_ratio not in ASPECT_RATIOS:
        raise KlingError.invalid("aspect_ratio", f"must be one of {', '.join(ASPECT_RATIOS)}")
    _number(request, "cfg_scale", 0.5, 0, 1)
    duration = request.get("duration")
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, int)
                                 or not DURATIONS[0] <= duration <= DURATIONS[1]):
        raise KlingError.invalid("duration", f"must be whole seconds from {DURATIONS[0]} to "
                                 f"{DURATIONS[1]}")
    return _Checked(video_url, types, prompt)


def omni_video_call(request: dict[str, Any], *, images: Sequence[tuple[str, tuple[int, int]]],
                    seed: int, options: OmniVideoOptions,
                    source: SourceVideo | None = None) -> OmniVideoCall:
    """The whole omni-video mapping: the stored request, its stored images ((path, (width,
    height)), in `image_list`'s order) and its stored video to edit -> one pipeline call;
    refuses (400 / 1201) what Kling refuses and any field the model cannot honour."""
    checked = _checked(request, len(images))
    if checked.video_url is not None and source is None:
        raise KlingError.invalid(VIDEO_LIST, "the video was not fetched at create")
    types, prompt = checked.types, checked.prompt
    negative_prompt = _text(request, "negative_prompt")
    pro = (request.get("mode") or "std") == "pro"
    first = types.index(FIRST_FRAME) if FIRST_FRAME in types else None
    end = types.index(END_FRAME) if END_FRAME in types else None
    if source is not None:
        # The edit covers the source, in its shape (Kling's edit ignores duration and
        # aspect_ratio).
        width, height = size_for_ratio(source.width, source.height,
                                       options.width * options.height, 16)
        num_frames = output_frames(source.span, options.fps, options.frame_step)
    else:
        aspect_ratio = request.get("aspect_ratio") or (
            nearest_ratio(images[first][1]) if first is not None else "16:9")
        width, height = frame_size(aspect_ratio, options.width, options.height)
        duration = request.get("duration")
        num_frames = frame_count(5 if duration is None else duration, options.fps,
                                 options.frame_step)
    return OmniVideoCall(
        prompt=prompt,
        negative_prompt=negative_prompt or options.negative_prompt,
        width=width,
        height=height,
        num_frames=num_frames,
        num_inference_steps=options.pro_steps if pro else options.std_steps,
        guidance_scale=guidance_scale(_number(request, "cfg_scale", 0.5, 0, 1),
                                      options.guidance_default, options.guidance_min),
        fps=options.fps,
        seed=seed,
        max_sequence_length=options.max_sequence_length,
        reference_image_paths=[path for (path, _), kind in zip(images, types, strict=True)
                               if kind is None],
        first_frame_path=images[first][0] if first is not None else None,
        end_frame_path=images[end][0] if end is not None else None,
        source_path=None if source is None else source.path,
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


def source_conditioning(frames: Sequence[Any], size: tuple[int, int]) -> tuple[list[Any],
                                                                               list[Any]]:
    """VACE's `video` and `mask` (PIL frames) for a video to edit (its frames already at the
    model's rate and count, RGB arrays): each frame resized to `size`, every mask white
    (repaint it all, reading the source)."""
    from PIL import Image

    make = Image.new("L", size, 255)
    video = [Image.fromarray(frame).convert("RGB").resize(size, Image.Resampling.LANCZOS)
             for frame in frames]
    return video, [make] * len(video)
