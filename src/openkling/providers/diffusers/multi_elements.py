"""videos/multi-elements' create on this host: Kling's fields -> one Wan VACE inpainting call.

The session (selection.py) gives the source video and the clicks marking one element; the
model process tracks the element with SAM 2 over every frame and Wan VACE (`WanVACEPipeline`,
Wan2.1-VACE-1.3B by default) repaints it: the source frames are the pipeline's `video`, the
element's masks its `mask` (white: repaint), so everything outside the element is kept.

- `edit_mode` (required): `removal` repaints the element following `prompt` (what should be
  there instead: the background); `swap` repaints it with `image_list[0]` as the pipeline's
  reference image (the new element) and `prompt`. `addition` is refused (400 / 1201 naming
  `edit_mode`): Kling places new elements where it sees fit, with no selection; an inpainting
  model only repaints a given area, and choosing that area for the client would not be
  Kling's behaviour.
- `image_list`: swap takes exactly 1 (`[{"image": ...}]`), removal none.
- `prompt` (required, <= 2500 characters), `negative_prompt` (<= 2500; the model's default
  when absent), `mode` (std/pro: the steps), `duration` ("5" needs a source of 2-5 s, "10"
  one of 7-10 s; see `span_seconds`).
- The video made covers the source: frames at the model's rate, `frame_step * k + 1` of them
  (Wan's VAE), as many as fit in the source's span, at about the model's frame area in the
  source's shape (sides multiples of 16).
- Anything else that asks for something (`cfg_scale`, `aspect_ratio`, a `watermark_info`
  that is enabled, ...) is refused (400 / 1201 naming it).

Pure functions only: no torch here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from openkling.core.errors import KlingError
from openkling.core.families import asks_for
from openkling.core.models import MAX_PROMPT
from openkling.providers.diffusers.families import (
    SERVER_FIELDS,
    TINY_VACE_DEFAULTS,
    MultiImageOptions,
    refuse_entry_keys,
    size_for_ratio,
)
from openkling.providers.diffusers.mapping import MODES, PipelineCall, guidance_scale

DEFAULT_SEGMENTER = "facebook/sam2.1-hiera-tiny"
TINY_SEGMENTER = "tiny-random-sam2-video"
#: The stored request's copy of the session (written at create by the provider only).
SELECTION = "selection"
EDIT_MODES = ("addition", "swap", "removal")
#: Kling's source lengths per output duration: "5" takes 2-5 s, "10" takes 7-10 s.
SPANS: dict[int, tuple[float, float]] = {5: (2.0, 5.0), 10: (7.0, 10.0)}
MULTI_ELEMENTS_FIELDS = frozenset({"session_id", "edit_mode", "image_list", "prompt",
                                   "negative_prompt", "mode", "duration", SELECTION}) \
    | SERVER_FIELDS
IMAGE_LIST = "image_list"


class MultiElementsOptions(MultiImageOptions):
    """The inpainting model and the segmenter (`provider_options.diffusers.multi_elements`):
    a Wan VACE model's options (as multi-image2video's) and the SAM 2 video model."""

    segmenter: str = Field(DEFAULT_SEGMENTER, description="transformers Sam2VideoModel "
                           f"checkpoint (hub id or folder), or '{TINY_SEGMENTER}'.")


TINY_MULTI_ELEMENTS_DEFAULTS: dict[str, Any] = {**TINY_VACE_DEFAULTS,
                                                "segmenter": TINY_SEGMENTER}


def multi_elements_options(raw: dict[str, Any], tiny: bool,
                           text_model: str = "") -> MultiElementsOptions:
    return MultiElementsOptions.model_validate(
        {**(TINY_MULTI_ELEMENTS_DEFAULTS if tiny else {}), **raw})


def span_seconds(total_frame: int, fps: float) -> float:
    """The time a video's frames span, (frames - 1) / fps: a 5 s clip of 4k+1 frames (81 at
    16 fps, what Wan-family models make) spans exactly 5 s."""
    return (total_frame - 1) / fps


def lasts(total_frame: int, fps: float, low: float, high: float) -> bool:
    """Whether a clip lasts `low` to `high` seconds: it lasts anywhere from its frames' span
    (81 frames at 16 fps: 5 s) to frames / fps (90 frames at 30 fps play 3 s), so either
    measure within the bounds will do."""
    return low <= total_frame / fps and span_seconds(total_frame, fps) <= high


@dataclass(frozen=True)
class InpaintCall(PipelineCall):
    """The source, the clicks and what to repaint (plain data: it crosses to the model
    process)."""

    video_path: str = ""
    clicks: list[dict[str, Any]] = field(default_factory=list)
    segmenter: str = DEFAULT_SEGMENTER
    reference_image_paths: list[str] = field(default_factory=list)
    kind: str = "inpaint"


def _text(request: dict[str, Any], name: str) -> str | None:
    value = request.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_PROMPT:
        raise KlingError.invalid(name, f"must be text of at most {MAX_PROMPT} characters")
    return value


def output_frames(span: float, fps: int, step: int) -> int:
    """`step * k + 1` frames at `fps`, the most that fit in `span` seconds."""
    return step * max(1, math.floor(span * fps / step + 1e-9)) + 1


def multi_elements_call(request: dict[str, Any], *, reference_paths: list[str],
                        video_path: str, seed: int,
                        options: MultiElementsOptions) -> InpaintCall:
    """The whole mapping: the stored request (with the session's copy under `selection`)
    and its stored images -> one call; refuses (400 / 1201) what Kling refuses and anything
    the model cannot honour."""
    for name in sorted(request):
        if name not in MULTI_ELEMENTS_FIELDS and asks_for(name, request[name], request):
            raise KlingError.invalid(name, "not supported by the local diffusers provider for "
                                     "videos/multi-elements (it takes session_id, edit_mode, "
                                     "image_list, prompt, negative_prompt, mode and duration)")
    refuse_entry_keys(request, IMAGE_LIST, "image")
    edit_mode = request.get("edit_mode")
    if edit_mode not in EDIT_MODES:
        raise KlingError.invalid("edit_mode", f"is required: one of {', '.join(EDIT_MODES)}")
    if edit_mode == "addition":
        raise KlingError.invalid("edit_mode", "addition is not supported by the local "
                                 "diffusers provider: its model repaints the selected "
                                 "element (swap, removal) and cannot choose where a new one "
                                 "goes")
    wanted = 1 if edit_mode == "swap" else 0
    if len(reference_paths) != wanted:
        raise KlingError.invalid(IMAGE_LIST, "swap takes exactly 1 image (the new element)"
                                 if wanted else "removal takes no image")
    prompt = _text(request, "prompt")
    if prompt is None or not prompt.strip():
        raise KlingError.invalid("prompt", "is required: what the selected area becomes")
    negative_prompt = _text(request, "negative_prompt")
    mode = request.get("mode") or "std"
    if mode not in MODES:
        raise KlingError.invalid("mode", f"must be one of {', '.join(MODES)}")
    duration = request.get("duration")
    if duration is None:
        duration = 5
    if isinstance(duration, bool) or duration not in SPANS:
        raise KlingError.invalid("duration", 'must be "5" or "10"')
    selection = request.get(SELECTION)
    if not isinstance(selection, dict):
        raise KlingError.invalid("session_id", "is required: a selection session of this "
                                 "account (init-selection)")
    if not selection.get("clicks"):
        raise KlingError.invalid("session_id", "has no selection: mark the element with "
                                 "add-selection first")
    span = span_seconds(int(selection["total_frame"]), float(selection["fps"]))
    low, high = SPANS[duration]
    if not lasts(int(selection["total_frame"]), float(selection["fps"]), low, high):
        raise KlingError.invalid("duration", f'"{duration}" needs a source video of {low:g} '
                                 f"to {high:g} s; the session's spans {span:.2f} s")
    width, height = size_for_ratio(int(selection["width"]), int(selection["height"]),
                                   options.width * options.height, 16)
    pro = mode == "pro"
    return InpaintCall(
        prompt=prompt,
        negative_prompt=negative_prompt or options.negative_prompt,
        width=width, height=height,
        num_frames=output_frames(span, options.fps, options.frame_step),
        num_inference_steps=options.pro_steps if pro else options.std_steps,
        guidance_scale=guidance_scale(0.5, options.guidance_default, options.guidance_min),
        fps=options.fps, seed=seed, max_sequence_length=options.max_sequence_length,
        video_path=video_path, clicks=list(selection["clicks"]),
        segmenter=options.segmenter, reference_image_paths=list(reference_paths),
    )
