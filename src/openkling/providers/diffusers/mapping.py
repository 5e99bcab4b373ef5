"""Pure functions from a Kling request to the arguments of a diffusers video pipeline call.

The table these implement is documented in docs/providers.md ("Local models (diffusers)").
"""

from __future__ import annotations

import math
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from openkling.core.errors import KlingError
from openkling.core.models import GenerationSpec
from openkling.providers.diffusers.model_options import DiffusersOptions

#: Frame sides must be multiples of this: the Wan VAE downsamples 8x and the transformer
#: patches 2x2 latents.
SIZE_MULTIPLE = 16
ASPECT_RATIOS: tuple[str, ...] = ("16:9", "9:16", "1:1")
MODES: tuple[str, ...] = ("std", "pro")


@dataclass(frozen=True)
class PipelineCall:
    """One generation, in the pipeline's terms; plain data so it can cross to the model process."""

    prompt: str
    negative_prompt: str
    width: int
    height: int
    num_frames: int
    num_inference_steps: int
    guidance_scale: float
    fps: int
    seed: int
    max_sequence_length: int
    #: Kling's `sound: "on"`: mux the model's soundtrack (only a model that makes one).
    sound: bool = field(default=False, kw_only=True)

    @property
    def duration(self) -> float:
        """Seconds of video: frames / fps (e.g. 81 / 16 = 5.0625)."""
        return self.num_frames / self.fps

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _nearest_multiple(value: float, multiple: int = SIZE_MULTIPLE) -> int:
    return max(multiple, round(value / multiple) * multiple)


def frame_size(
    aspect_ratio: str, base_width: int, base_height: int, scale: float = 1.0,
    multiple: int = SIZE_MULTIPLE,
) -> tuple[int, int]:
    """(width, height) for an aspect ratio at the model's native 16:9 size times `scale`.

    16:9 is the landscape base size (Wan 1.3B: 832x480), 9:16 the same size turned upright,
    1:1 a square of about the same area (624x624); every side a multiple of `multiple` (16
    for Wan; LTX-2 needs 32, so its 1:1 is 608x608).
    """
    long_side = _nearest_multiple(max(base_width, base_height) * scale, multiple)
    short_side = _nearest_multiple(min(base_width, base_height) * scale, multiple)
    if aspect_ratio == "16:9":
        return long_side, short_side
    if aspect_ratio == "9:16":
        return short_side, long_side
    if aspect_ratio == "1:1":
        side = max(multiple, int(math.sqrt(long_side * short_side)) // multiple * multiple)
        return side, side
    raise KlingError.invalid("aspect_ratio", f"must be one of {', '.join(ASPECT_RATIOS)}")


def frame_count(duration_s: int, fps: int, frame_step: int = 4) -> int:
    """Frames for `duration_s` seconds: the nearest frame_step * k + 1 (Wan: 5 s -> 81)."""
    return frame_step * max(1, round(duration_s * fps / frame_step)) + 1


def guidance_scale(cfg_scale: float, at_default: float, at_zero: float) -> float:
    """Kling's cfg_scale (0..1) mapped linearly: 0 -> at_zero, 0.5 -> at_default, 1 -> the
    mirror image (Wan defaults: 1.0, 5.0, 9.0)."""
    return at_zero + cfg_scale * 2.0 * (at_default - at_zero)


def seed_for(task_id: str) -> int:
    """A seed derived from the task id, so a retried task renders the same video."""
    digits = "".join(ch for ch in task_id if ch.isdigit())
    if digits:
        return int(digits) % (2**32)
    return int(uuid.uuid5(uuid.NAMESPACE_OID, task_id)) % (2**32)


def pipeline_call(spec: GenerationSpec, options: DiffusersOptions) -> PipelineCall:
    """The whole mapping: one Kling spec and the provider options -> one pipeline call."""
    if spec.mode not in MODES:
        raise KlingError.invalid("mode", f"must be one of {', '.join(MODES)}")
    pro = spec.mode == "pro"
    width, height = frame_size(
        spec.aspect_ratio,
        options.width,
        options.height,
        options.pro_scale if pro else options.std_scale,
        options.size_multiple,
    )
    return PipelineCall(
        prompt=spec.prompt,
        negative_prompt=spec.negative_prompt or options.negative_prompt,
        width=width,
        height=height,
        num_frames=frame_count(spec.duration, options.fps, options.frame_step),
        num_inference_steps=options.pro_steps if pro else options.std_steps,
        guidance_scale=guidance_scale(
            spec.cfg_scale, options.guidance_default, options.guidance_min
        ),
        fps=options.fps,
        seed=options.seed if options.seed is not None else seed_for(spec.task_id),
        max_sequence_length=options.max_sequence_length,
        sound=spec.request.get("sound") == "on",
    )
