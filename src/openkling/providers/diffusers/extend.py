"""`videos/video-extend` on a local model: its options and the Kling -> pipeline mapping.

Kling extends one of the caller's earlier videos (`video_id`, the id of a video in an earlier
task's `task_result`) by a few seconds, following `prompt`, and returns the whole extended
video: the original and its continuation, with the total duration. Here that is LTX-Video
(`LTXConditionPipeline`, Lightricks/LTX-Video-0.9.5 by default): the source video's last
`condition_frames` frames condition the start of a new clip (`LTXVideoCondition` at frame
0), whose frames after them are the continuation; the result is the source's frames, as they
are, then the continuation resized to the source's size, at the source's frame rate.

Fields, one by one (anything else that asks for something is refused, 400 / 1201 naming it):
- `video_id` (required): must name a video of the caller's own succeeded tasks that this
  server stores (resolved at create: `core.inputs.find_videos`); another account's id, an
  unknown one or a video only hosted elsewhere is refused naming `video_id`. The extended
  video may last at most `max_total_seconds` (Kling: 3 minutes).
- `prompt` (optional, <= 2500 characters) and `negative_prompt` (<= 2500; the options'
  `negative_prompt` when absent) are the pipeline's prompts.
- `cfg_scale` (0..1, default 0.5) maps linearly to the guidance scale as for every video
  family (0 -> `guidance_min`, 0.5 -> `guidance_default`).
- `mode` (`std` / `pro`, which gateways send) picks `std_steps` or `pro_steps`.
The continuation lasts `seconds` (Kling adds 4 to 5 s), rounded up to whole latent frames.
A soundtrack of the source is not carried over (LTX-Video makes no sound).

Pure functions only: no torch here (the API process calls `extend_call` at create).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from openkling.core.errors import KlingError
from openkling.core.families import asks_for
from openkling.core.inputs import INPUT_VIDEOS
from openkling.core.models import MAX_PROMPT
from openkling.providers.diffusers.families import SERVER_FIELDS, size_for_ratio
from openkling.providers.diffusers.mapping import MODES, guidance_scale

DEFAULT_EXTEND_MODEL = "Lightricks/LTX-Video-0.9.5"
TINY_EXTEND_MODEL = "tiny-random-ltx-video"
#: The longest extended video Kling makes (its reference: at most 3 minutes in total).
KLING_MAX_TOTAL_SECONDS = 180.0
#: Kling's video-extend fields this provider honours, and the server's own stored fields.
EXTEND_FIELDS = frozenset({"video_id", "prompt", "negative_prompt", "cfg_scale", "mode",
                           INPUT_VIDEOS}) | SERVER_FIELDS
WHO = "the local diffusers provider for videos/video-extend"


class ExtendOptions(BaseModel):
    """The video-extension model (`provider_options.diffusers.extend`)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field(DEFAULT_EXTEND_MODEL, description="diffusers LTX-Video condition "
                       f"pipeline id (0.9.5 or later), folder or '{TINY_EXTEND_MODEL}'.")
    pipeline: str = "LTXConditionPipeline"
    area: int = Field(768 * 512, ge=256, description="Pixels the model renders the "
                      "continuation at (the source's shape kept); it is then resized to the "
                      "source's size.")
    size_multiple: int = Field(32, ge=8, description="Rendered sides are multiples of this "
                               "(LTX-Video: 32).")
    seconds: float = Field(5.0, gt=0, le=60, description="Length of the continuation "
                           "(Kling adds 4 to 5 s); rounded up to whole latent frames.")
    condition_frames: int = Field(25, ge=1, description="Last frames of the source that "
                                  "condition the continuation (rounded down to 8k + 1).")
    std_steps: int = Field(40, ge=1, le=1000)
    pro_steps: int = Field(50, ge=1, le=1000)
    guidance_default: float = Field(3.0, ge=0, description="Guidance at cfg_scale 0.5 "
                                    "(LTX-Video's default).")
    guidance_min: float = Field(1.0, ge=0, description="Guidance at cfg_scale 0 (none).")
    max_sequence_length: int = Field(256, ge=8, le=4096)
    negative_prompt: str = Field("worst quality, inconsistent motion, blurry, jittery, "
                                 "distorted", description="Used when the request sends none.")
    max_total_seconds: float = Field(KLING_MAX_TOTAL_SECONDS, gt=0, description="The longest "
                                     "extended video; a longer one is refused (Kling: 180).")


#: With a tiny text-to-video model: the tiny LTX-Video, at a size a CPU renders in seconds.
TINY_EXTEND_DEFAULTS: dict[str, Any] = {
    "model": TINY_EXTEND_MODEL, "area": 64 * 32, "std_steps": 2, "pro_steps": 3,
    "max_sequence_length": 64, "condition_frames": 9,
}


def extend_options(raw: dict[str, Any], tiny: bool, text_model: str = "") -> ExtendOptions:
    return ExtendOptions.model_validate({**(TINY_EXTEND_DEFAULTS if tiny else {}), **raw})


@dataclass(frozen=True)
class ExtendCall:
    """One continuation of a stored video (plain data: it crosses to the model process).
    Frame counts and the rendered size follow the source file, read there."""

    prompt: str
    negative_prompt: str
    video_path: str
    seconds: float
    area: int
    size_multiple: int
    condition_frames: int
    num_inference_steps: int
    guidance_scale: float
    seed: int
    max_sequence_length: int
    kind: str = "extend"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def added_frames(seconds: float, fps: int, temporal: int) -> int:
    """Frames of a `seconds` continuation at `fps`: whole latent frames of `temporal` each,
    rounded up (16 fps, 5 s, 8 -> 80)."""
    return temporal * max(1, math.ceil(seconds * fps / temporal - 1e-9))


def conditioning_frames(available: int, wanted: int, temporal: int) -> int:
    """The source's last frames that condition the model: 8k + 1 of them (LTX-Video's VAE
    takes such counts), at most `wanted` and what the source has, at least one."""
    most = max(1, min(available, wanted))
    return temporal * ((most - 1) // temporal) + 1


def render_size(width: int, height: int, area: int, multiple: int) -> tuple[int, int]:
    """The continuation's rendered size: about `area` pixels in the source's shape."""
    return size_for_ratio(width, height, area, multiple)


def _text(request: dict[str, Any], name: str) -> str | None:
    value = request.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_PROMPT:
        raise KlingError.invalid(name, f"must be text of at most {MAX_PROMPT} characters")
    return value


def _cfg_scale(request: dict[str, Any]) -> float:
    value = request.get("cfg_scale")
    if value is None:
        return 0.5
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise KlingError.invalid("cfg_scale", "must be a number in [0, 1]")
    return float(value)


def source_video(request: dict[str, Any]) -> dict[str, Any]:
    """The stored video `video_id` names (resolved at create), or the refusal naming
    `video_id` (400 / 1201): absent, not a video of this account, or not stored here."""
    video_id = request.get("video_id")
    if video_id is None or video_id == "":
        raise KlingError.invalid("video_id", "is required: the id of a video of one of this "
                                 "account's succeeded tasks")
    if not isinstance(video_id, str):
        raise KlingError.invalid("video_id", "must be a string: a video id from a task result")
    found = (request.get(INPUT_VIDEOS) or {}).get("video_id")
    if not isinstance(found, dict) or found.get("video_id") != video_id:
        raise KlingError.invalid("video_id", f"no video {video_id!r} among this account's "
                                 "succeeded tasks (send the id of a video in task_result of "
                                 "one of its own tasks)")
    if not found.get("key"):
        raise KlingError.invalid("video_id", f"video {video_id!r} is hosted elsewhere, not "
                                 f"stored by this server: {WHO} cannot read it")
    return found


def extend_call(request: dict[str, Any], *, video_path: str, seed: int,
                options: ExtendOptions) -> ExtendCall:
    """The whole video-extend mapping: the stored request (with the video its `video_id`
    resolved to) -> one pipeline call; refuses (400 / 1201) what Kling refuses and any field
    the model cannot honour."""
    for name in sorted(request):
        if name not in EXTEND_FIELDS and asks_for(name, request[name], request):
            raise KlingError.invalid(name, f"not supported by {WHO} (it takes video_id, "
                                     "prompt, negative_prompt, cfg_scale and mode)")
    source = source_video(request)
    prompt = _text(request, "prompt") or ""
    negative = _text(request, "negative_prompt") or options.negative_prompt
    cfg_scale = _cfg_scale(request)
    mode = request.get("mode") or "std"
    if mode not in MODES:
        raise KlingError.invalid("mode", f"must be one of {', '.join(MODES)}")
    total = float(source.get("duration") or 0.0) + options.seconds
    if total > options.max_total_seconds + 1e-9:
        raise KlingError.invalid("video_id", f"the extended video would last {total:.1f} s; "
                                 f"at most {options.max_total_seconds:g} s in total")
    return ExtendCall(
        prompt=prompt, negative_prompt=negative, video_path=video_path,
        seconds=options.seconds, area=options.area, size_multiple=options.size_multiple,
        condition_frames=options.condition_frames,
        num_inference_steps=options.pro_steps if mode == "pro" else options.std_steps,
        guidance_scale=guidance_scale(cfg_scale, options.guidance_default,
                                      options.guidance_min),
        seed=seed, max_sequence_length=options.max_sequence_length,
    )
