"""The local families beyond text2video: their model options and the Kling -> pipeline mapping.

- `videos/image2video`: Wan 2.2 TI2V 5B (`WanImageToVideoPipeline`) by default. The output
  follows the input image's aspect ratio at the model's native area; the first frame is the
  image. TI2V conditions on the first frame only, so `image_tail` is refused unless an
  operator loads a first/last-frame model and sets `image_tail = true`.
- `images/generations`: Stable Diffusion XL base 1.0 by default. Every Kling aspect ratio at
  about 1 MP (`1k`) or 4 MP (`2k`); `n` images in one batch; a reference `image` turns the call
  into image-to-image with strength `1 - image_fidelity`. With `image_reference` the image is
  instead a reference the new picture follows, through IP-Adapter (h94/IP-Adapter's SDXL Plus
  weights): `subject` conditions on the whole picture at scale `image_fidelity` and on its
  face at scale `human_fidelity` (Kling's default 0.45); `face` on the face alone at scale
  `image_fidelity`. A model with no `reference_adapter` (FLUX) refuses image_reference.
- `audio/text-to-audio`: Stable Audio Open 1.0 (`StableAudioPipeline`) by default. Kling's two
  fields: `prompt` (required, <= 200 characters) is the text the sound follows; `duration`
  (3.0..10.0 s, at most one decimal, a number or a numeric string) is the length of the
  sound (`audio_end_in_s`). Nothing else is taken: any other field is refused (400 / 1201
  naming it). The result is one sound, as WAV (16-bit PCM) and MP3, both of `duration`.
- `images/editing/expand`: Qwen-Image inpainting (`QwenImageInpaintPipeline`, made from the
  loaded pipeline by `AutoPipelineForInpainting`) on a padded canvas. The input image is
  placed on a canvas `1 + left + right` times as wide and `1 + up + down` times as high,
  the new area is masked and inpainted following `prompt`; the model renders at about
  `area` pixels and its picture is resized to the canvas, the original pixels pasted back.
  `n` pictures. Kling's limits are checked here: each ratio 0..2, the canvas at most 3
  times the image's area (and larger than it), `prompt` <= 2500 characters, `n` 1..9.
- `videos/multi-image2video`: Wan VACE (`WanVACEPipeline`; Wan2.1-VACE-1.3B by default).
  Kling's `image_list` (1 to 4 images) are the pipeline's `reference_images` (the subjects
  the video shows, in order); `prompt` (required), `negative_prompt`, `cfg_scale` (guidance,
  as text2video's), `mode` (steps), `aspect_ratio` (16:9, 9:16 or 1:1 at the model's size)
  and `duration` (frames at the model's fps and frame step). Any other field that asks for
  something is refused (400 / 1201 naming it).
- `images/multi-image2image`: Qwen-Image-Edit Plus (`QwenImageEditPlusPipeline`;
  Qwen/Qwen-Image-Edit-2509 by default), which takes several pictures and an instruction.
  The pictures are Kling's `subject_image_list` (1 to 4, in order), then `scene_image` and
  `style_image` when sent; the instruction is `prompt` (required, <= 2500 characters) after
  a line naming each picture's role. `n` (1..9) pictures at `aspect_ratio` (Kling's eight
  image ratios) at about `area` pixels. Any other field that asks for something is refused
  (400 / 1201 naming it).

Each family runs in its own model process, loaded with the provider's device settings and
its own `model`/`pipeline`. Pure functions only: no torch here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from openkling.core.errors import KlingError
from openkling.core.families import asks_for
from openkling.core.family_requests import MAX_REFERENCE_IMAGES, MAX_SUBJECT_IMAGES
from openkling.core.models import MAX_PROMPT
from openkling.providers.diffusers.mapping import (
    ASPECT_RATIOS,
    MODES,
    PipelineCall,
    frame_count,
    frame_size,
    guidance_scale,
)
from openkling.providers.diffusers.model_options import DEFAULT_NEGATIVE_PROMPT

DEFAULT_I2V_MODEL = "Wan-AI/Wan2.2-TI2V-5B-Diffusers"
DEFAULT_IMAGE_MODEL = "stabilityai/stable-diffusion-xl-base-1.0"
TINY_I2V_MODEL = "tiny-random-wan-i2v"
TINY_IMAGE_MODEL = "tiny-random-sdxl"
DEFAULT_AUDIO_MODEL = "stabilityai/stable-audio-open-1.0"
TINY_AUDIO_MODEL = "tiny-random-stable-audio"
DEFAULT_EXPAND_MODEL = "Qwen/Qwen-Image"
TINY_EXPAND_MODEL = "tiny-random-qwen-image"
DEFAULT_VACE_MODEL = "Wan-AI/Wan2.1-VACE-1.3B-diffusers"
TINY_VACE_MODEL = "tiny-random-wan-vace"
DEFAULT_EDIT_MODEL = "Qwen/Qwen-Image-Edit-2509"
TINY_EDIT_MODEL = "tiny-random-qwen-image-edit-plus"
SDXL_REFERENCE_ADAPTER = "h94/IP-Adapter"
TINY_REFERENCE_ADAPTER = "tiny-random-ip-adapter"
#: Kling's default facial reference intensity of image_reference=subject.
HUMAN_FIDELITY_DEFAULT = 0.45

#: Kling's image aspect ratios (images/generations), width:height.
IMAGE_ASPECT_RATIOS: dict[str, tuple[int, int]] = {
    "16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1), "4:3": (4, 3), "3:4": (3, 4),
    "3:2": (3, 2), "2:3": (2, 3), "21:9": (21, 9),
}
RESOLUTIONS = ("1k", "2k")


class Image2VideoOptions(BaseModel):
    """The image-to-video model (`provider_options.diffusers.image2video`)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field(DEFAULT_I2V_MODEL, description="diffusers image-to-video pipeline id, "
                       f"local folder or '{TINY_I2V_MODEL}'.")
    pipeline: str = "auto"
    width: int = Field(1280, ge=16, description="Width x height is the frame area; the shape "
                       "follows the input image.")
    height: int = Field(704, ge=16)
    size_multiple: int = Field(32, ge=8, description="Frame sides are multiples of this "
                               "(TI2V: 16x VAE x 2x2 patches).")
    fps: int = Field(24, ge=1, le=120)
    frame_step: int = Field(4, ge=1)
    std_steps: int = Field(30, ge=1, le=1000)
    pro_steps: int = Field(50, ge=1, le=1000)
    guidance_default: float = Field(5.0, ge=0)
    guidance_min: float = Field(1.0, ge=0)
    max_sequence_length: int = Field(512, ge=8, le=4096)
    image_tail: bool = Field(False, description="The model conditions on a last frame too "
                             "(e.g. Wan2.1-FLF2V-14B-720P); otherwise image_tail is refused.")


class ImageOptions(BaseModel):
    """The text-to-image model (`provider_options.diffusers.images`)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field(DEFAULT_IMAGE_MODEL, description="diffusers text-to-image pipeline id "
                       f"(image-to-image through AutoPipelineForImage2Image), folder or "
                       f"'{TINY_IMAGE_MODEL}'.")
    pipeline: str = "auto"
    side_1k: int = Field(1024, ge=16, description="Square side of resolution=1k; other ratios "
                         "keep its area.")
    side_2k: int = Field(2048, ge=16, description="Square side of resolution=2k.")
    size_multiple: int = Field(64, ge=8)
    steps: int = Field(30, ge=1, le=1000)
    guidance: float = Field(5.0, ge=0, description="Classifier-free guidance scale.")
    negative_prompt: str = ""
    takes_image: bool = Field(
        True, description="The model runs image-to-image from a reference `image`; False "
        "refuses one (400, code 1201): FLUX.2's pipeline takes reference images its own way, "
        "with no strength for image_fidelity.")
    takes_negative_prompt: bool = Field(
        True, description="The model honours a negative prompt; False refuses a request's "
        "negative_prompt (400, code 1201): FLUX.1 is guidance-distilled, with no "
        "classifier-free guidance to steer away from one.")
    reference_adapter: str = Field(
        "", description="IP-Adapter weights for image_reference: a hub id, folder or "
        f"'{TINY_REFERENCE_ADAPTER}'; empty refuses image_reference (400, code 1201). "
        f"Stable Diffusion XL base defaults to {SDXL_REFERENCE_ADAPTER}.")
    reference_subfolder: str = Field("sdxl_models", description="The weights' folder in "
                                     "reference_adapter.")
    subject_weights: str = Field("ip-adapter-plus_sdxl_vit-h.safetensors",
                                 description="image_reference=subject: the whole picture.")
    face_weights: str = Field("ip-adapter-plus-face_sdxl_vit-h.safetensors",
                              description="image_reference=face, and human_fidelity.")
    reference_image_encoder: str = Field(
        "models/image_encoder", description="The CLIP image encoder's folder in "
        "reference_adapter (the one both weights were trained with: ViT-H here).")


class AudioOptions(BaseModel):
    """The text-to-audio model (`provider_options.diffusers.audio`)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field(DEFAULT_AUDIO_MODEL, description="diffusers text-to-audio pipeline id, "
                       f"folder or '{TINY_AUDIO_MODEL}'.")
    pipeline: str = "auto"
    steps: int = Field(100, ge=1, le=1000, description="Denoising steps (StableAudioPipeline's "
                       "default; its model card uses 200).")
    guidance: float = Field(7.0, ge=0, description="Classifier-free guidance scale.")
    negative_prompt: str = Field("Low quality.", description="The model card's.")
    max_seconds: float = Field(47.0, gt=0, description="The longest sound the model makes "
                               "(Stable Audio Open 1.0: 1024 latents x 2048 samples at 44.1 kHz "
                               "= 47.55 s); a longer duration is refused.")


class ExpandOptions(BaseModel):
    """The outpainting model (`provider_options.diffusers.expand`)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field(DEFAULT_EXPAND_MODEL, description="diffusers text-to-image or inpainting "
                       "pipeline id (inpainting through AutoPipelineForInpainting), folder or "
                       f"'{TINY_EXPAND_MODEL}'.")
    pipeline: str = "auto"
    area: int = Field(1024 * 1024, ge=256, description="Pixels the model renders the canvas "
                      "at (its shape kept); the picture is then resized to the canvas.")
    size_multiple: int = Field(16, ge=8, description="Rendered sides are multiples of this "
                               "(Qwen-Image: 8x VAE x 2x2 patches).")
    steps: int = Field(50, ge=1, le=1000, description="Denoising steps (Qwen-Image's default).")
    guidance: float = Field(4.0, ge=0, description="Classifier-free guidance (true_cfg_scale).")
    negative_prompt: str = Field(" ", description="Qwen-Image runs its classifier-free "
                                 "guidance only with a negative prompt (its card sends ' ').")


class MultiImageOptions(BaseModel):
    """The reference-to-video model (`provider_options.diffusers.multi_image2video`)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field(DEFAULT_VACE_MODEL, description="diffusers Wan VACE pipeline id (it "
                       f"must take reference_images), folder or '{TINY_VACE_MODEL}'.")
    pipeline: str = "auto"
    width: int = Field(832, ge=16, description="Frame width at 16:9 (9:16 turns it upright, "
                       "1:1 keeps its area); sides are multiples of 16.")
    height: int = Field(480, ge=16)
    fps: int = Field(16, ge=1, le=120)
    frame_step: int = Field(4, ge=1, description="Frame counts are frame_step * k + 1 (Wan's "
                            "VAE compresses time 4x).")
    std_steps: int = Field(30, ge=1, le=1000)
    pro_steps: int = Field(50, ge=1, le=1000)
    guidance_default: float = Field(5.0, ge=0, description="Guidance scale at cfg_scale 0.5.")
    guidance_min: float = Field(1.0, ge=0, description="Guidance scale at cfg_scale 0.")
    negative_prompt: str = Field(DEFAULT_NEGATIVE_PROMPT, description="Used when the request "
                                 "has none.")
    max_sequence_length: int = Field(512, ge=8, le=4096)


class MultiImage2ImageOptions(BaseModel):
    """The multi-image editing model (`provider_options.diffusers.multi_image2image`)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field(DEFAULT_EDIT_MODEL, description="diffusers QwenImageEditPlusPipeline "
                       f"id (several input pictures), folder or '{TINY_EDIT_MODEL}'.")
    pipeline: str = "auto"
    area: int = Field(1024 * 1024, ge=256, description="Pixels of each picture made (its "
                      "shape from aspect_ratio).")
    input_area: int = Field(1024 * 1024, ge=256, description="Pixels each input picture is "
                            "encoded at (the pipeline's VAE_IMAGE_SIZE, 1024x1024 in "
                            "diffusers 0.42; smaller is faster and less faithful).")
    size_multiple: int = Field(16, ge=8, description="Sides are multiples of this "
                               "(Qwen-Image: 8x VAE x 2x2 patches).")
    steps: int = Field(40, ge=1, le=1000, description="Denoising steps (the model card's).")
    guidance: float = Field(4.0, ge=0, description="Classifier-free guidance "
                            "(true_cfg_scale; the model card's).")
    negative_prompt: str = Field(" ", description="Qwen-Image runs its classifier-free "
                                 "guidance only with a negative prompt (its card sends ' ').")


#: What the tiny model uses, so `--model tiny-random-wan` serves every family on a CPU.
TINY_I2V_DEFAULTS: dict[str, Any] = {
    "model": TINY_I2V_MODEL, "width": 80, "height": 48, "size_multiple": 16, "fps": 16,
    "std_steps": 2, "pro_steps": 3, "max_sequence_length": 64,
}
#: With the tiny LTX-2 as text-to-video model: its image-to-video twin, at its sizes.
TINY_LTX2_I2V_DEFAULTS: dict[str, Any] = {
    "model": "tiny-random-ltx2-i2v", "width": 64, "height": 32, "size_multiple": 32, "fps": 2,
    "frame_step": 2, "std_steps": 2, "pro_steps": 3, "max_sequence_length": 16,
    "guidance_default": 3.0,
}
#: A tiny text-to-video model -> the image-to-video defaults of its tiny twin.
TINY_I2V_FOR: dict[str, dict[str, Any]] = {
    "tiny-random-ltx2": TINY_LTX2_I2V_DEFAULTS,
    "tiny-random-wan2.2-a14b": {**TINY_I2V_DEFAULTS, "model": "tiny-random-wan2.2-a14b-i2v"},
    # HunyuanVideo 1.5's image-to-video picks its own size: the input image's shape among its
    # buckets at the transformer's target size (80x48 for 16:9 in the tiny one).
    "tiny-random-hunyuanvideo15": {**TINY_I2V_DEFAULTS, "fps": 4,
                                   "model": "tiny-random-hunyuanvideo15-i2v",
                                   "guidance_default": 6.0},
}
#: Published image-to-video models' own settings, applied when `image2video.model` names one.
I2V_MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    # 480p buckets (848x480 for 16:9), 24 fps, frames 4k + 1, 50 steps, guidance 6.0.
    "hunyuanvideo-community/HunyuanVideo-1.5-480p_i2v": {
        "width": 848, "height": 480, "size_multiple": 16, "fps": 24, "frame_step": 4,
        "std_steps": 50, "pro_steps": 50, "guidance_default": 6.0},
}
TINY_IMAGE_DEFAULTS: dict[str, Any] = {
    "model": TINY_IMAGE_MODEL, "side_1k": 128, "side_2k": 256, "size_multiple": 16, "steps": 2,
}
#: FLUX.1 [dev]: about 1 MP at 1k and 4 MP at 2k, sides multiples of 16 (8x VAE x 2x2
#: packing), 28 steps, embedded guidance 3.5 (diffusers' defaults), no negative prompt.
FLUX_DEV_DEFAULTS: dict[str, Any] = {
    "side_1k": 1024, "side_2k": 2048, "size_multiple": 16, "steps": 28, "guidance": 3.5,
    "takes_negative_prompt": False,
}
#: Published (and built-in) text-to-image models' own settings, applied when `images.model`
#: names one (or is the default).
IMAGE_MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    # Stable Diffusion XL: image_reference through IP-Adapter's SDXL Plus weights.
    DEFAULT_IMAGE_MODEL: {"reference_adapter": SDXL_REFERENCE_ADAPTER},
    TINY_IMAGE_MODEL: {"reference_adapter": TINY_REFERENCE_ADAPTER,
                       "subject_weights": "ip-adapter-plus_tiny.safetensors",
                       "face_weights": "ip-adapter-plus-face_tiny.safetensors"},
    "black-forest-labs/FLUX.1-dev": FLUX_DEV_DEFAULTS,
    "random-flux.1-dev": FLUX_DEV_DEFAULTS,
    # FLUX.1 [schnell]: timestep-distilled, 4 steps, no guidance at all.
    "black-forest-labs/FLUX.1-schnell": {**FLUX_DEV_DEFAULTS, "steps": 4, "guidance": 0.0},
    "tiny-random-flux": {**FLUX_DEV_DEFAULTS, "side_1k": 64, "side_2k": 128, "steps": 2},
    # FLUX.2 [dev]: 50 steps, embedded guidance 4.0 (diffusers' defaults), no negative
    # prompt, no image-to-image.
    "black-forest-labs/FLUX.2-dev": {**FLUX_DEV_DEFAULTS, "steps": 50, "guidance": 4.0,
                                     "takes_image": False},
    "tiny-random-flux2": {**FLUX_DEV_DEFAULTS, "side_1k": 64, "side_2k": 128, "steps": 2,
                          "guidance": 4.0, "takes_image": False},
}


TINY_AUDIO_DEFAULTS: dict[str, Any] = {
    "model": TINY_AUDIO_MODEL, "steps": 2, "max_seconds": 10.24,
}


TINY_EXPAND_DEFAULTS: dict[str, Any] = {
    "model": TINY_EXPAND_MODEL, "area": 64 * 64, "steps": 2, "guidance": 1.0,
}


TINY_VACE_DEFAULTS: dict[str, Any] = {
    "model": TINY_VACE_MODEL, "width": 80, "height": 48, "std_steps": 2, "pro_steps": 3,
    "max_sequence_length": 64,
}


TINY_EDIT_DEFAULTS: dict[str, Any] = {
    "model": TINY_EDIT_MODEL, "area": 64 * 64, "input_area": 64 * 64, "steps": 2,
    "guidance": 2.0,
}


def image2video_options(raw: dict[str, Any], tiny: bool,
                        text_model: str = "") -> Image2VideoOptions:
    """The image-to-video options; with a tiny text-to-video model, its tiny twin's."""
    defaults: dict[str, Any] = {}
    if tiny:
        defaults = TINY_I2V_FOR.get(text_model, TINY_I2V_DEFAULTS)
    defaults = {**defaults, **I2V_MODEL_DEFAULTS.get(raw.get("model", ""), {})}
    return Image2VideoOptions.model_validate({**defaults, **raw})


def image_options(raw: dict[str, Any], tiny: bool, text_model: str = "") -> ImageOptions:
    model = raw.get("model") or (TINY_IMAGE_MODEL if tiny else DEFAULT_IMAGE_MODEL)
    defaults = {**(TINY_IMAGE_DEFAULTS if tiny else {}), **IMAGE_MODEL_DEFAULTS.get(model, {})}
    return ImageOptions.model_validate({**defaults, **raw})


def audio_options(raw: dict[str, Any], tiny: bool, text_model: str = "") -> AudioOptions:
    return AudioOptions.model_validate({**(TINY_AUDIO_DEFAULTS if tiny else {}), **raw})


def expand_options(raw: dict[str, Any], tiny: bool, text_model: str = "") -> ExpandOptions:
    return ExpandOptions.model_validate({**(TINY_EXPAND_DEFAULTS if tiny else {}), **raw})


def multi_image_options(raw: dict[str, Any], tiny: bool,
                        text_model: str = "") -> MultiImageOptions:
    return MultiImageOptions.model_validate({**(TINY_VACE_DEFAULTS if tiny else {}), **raw})


def multi_image2image_options(raw: dict[str, Any], tiny: bool,
                              text_model: str = "") -> MultiImage2ImageOptions:
    return MultiImage2ImageOptions.model_validate({**(TINY_EDIT_DEFAULTS if tiny else {}),
                                                   **raw})


def _round(value: float, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)


def size_for_ratio(ratio_w: float, ratio_h: float, area: int, multiple: int) -> tuple[int, int]:
    """(width, height): about `area` pixels of the given shape, sides multiples of `multiple`."""
    width = math.sqrt(area * ratio_w / ratio_h)
    return _round(width, multiple), _round(area / width, multiple)


@dataclass(frozen=True)
class Image2VideoCall(PipelineCall):
    """A text-to-video call plus the frames it starts (and may end) from (plain data: it
    crosses to the model process)."""

    image_path: str
    last_image_path: str | None = None
    kind: str = "video"


def image2video_call(
    *, prompt: str, negative_prompt: str, cfg_scale: float, mode: str, duration: int,
    image_size: tuple[int, int], image_path: str, last_image_path: str | None, seed: int,
    options: Image2VideoOptions, sound: bool = False,
) -> Image2VideoCall:
    if last_image_path is not None and not options.image_tail:
        raise KlingError.invalid(
            "image_tail", f"the local image-to-video model ({options.model}) conditions on the "
            "first frame only; send image without image_tail"
        )
    width, height = size_for_ratio(image_size[0], image_size[1],
                                   options.width * options.height, options.size_multiple)
    pro = mode == "pro"
    return Image2VideoCall(
        prompt=prompt,
        negative_prompt=negative_prompt,
        width=width,
        height=height,
        num_frames=frame_count(duration, options.fps, options.frame_step),
        num_inference_steps=options.pro_steps if pro else options.std_steps,
        guidance_scale=guidance_scale(cfg_scale, options.guidance_default, options.guidance_min),
        fps=options.fps,
        seed=seed,
        max_sequence_length=options.max_sequence_length,
        image_path=image_path,
        last_image_path=last_image_path,
        sound=sound,
    )


@dataclass(frozen=True)
class ImagesCall:
    """One text-to-image (or image-to-image) batch of `n` pictures."""

    prompt: str
    negative_prompt: str
    width: int
    height: int
    n: int
    num_inference_steps: int
    guidance_scale: float
    seed: int
    image_path: str | None = None
    strength: float | None = None
    #: image_reference: the picture the new ones follow, and the IP-Adapter that reads it.
    reference_path: str | None = None
    reference_adapter: ReferenceAdapter | None = None
    kind: str = "images"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ReferenceAdapter:
    """Which IP-Adapter weights read a reference picture, each at its scale (plain data)."""

    source: str
    subfolder: str
    image_encoder: str
    weights: tuple[str, ...]
    scales: tuple[float, ...]


def reference_adapter(options: ImageOptions, image_reference: str, image_fidelity: float,
                      human_fidelity: float | None) -> ReferenceAdapter:
    """Kling's reference kinds as IP-Adapter scales: `subject` follows the whole picture at
    `image_fidelity` and its face at `human_fidelity`; `face` the face at `image_fidelity`.
    A weight at scale 0 adds nothing and is left out."""
    human = HUMAN_FIDELITY_DEFAULT if human_fidelity is None else human_fidelity
    wanted = ([(options.subject_weights, image_fidelity), (options.face_weights, human)]
              if image_reference == "subject" else [(options.face_weights, image_fidelity)])
    used = [(weights, scale) for weights, scale in wanted if scale > 0]
    return ReferenceAdapter(
        source=options.reference_adapter, subfolder=options.reference_subfolder,
        image_encoder=options.reference_image_encoder,
        weights=tuple(weights for weights, _ in used), scales=tuple(scale for _, scale in used))


def images_call(
    *, prompt: str, negative_prompt: str | None, aspect_ratio: str, resolution: str, n: int,
    image_path: str | None, image_fidelity: float, seed: int, options: ImageOptions,
    image_reference: str | None = None, human_fidelity: float | None = None,
) -> ImagesCall:
    if aspect_ratio not in IMAGE_ASPECT_RATIOS:
        raise KlingError.invalid("aspect_ratio",
                                 f"must be one of {', '.join(IMAGE_ASPECT_RATIOS)}")
    if resolution not in RESOLUTIONS:
        raise KlingError.invalid("resolution", "must be 1k or 2k")
    if negative_prompt and not options.takes_negative_prompt:
        raise KlingError.invalid(
            "negative_prompt", f"the local images model ({options.model}) takes no negative "
            "prompt (guidance-distilled: no classifier-free guidance); send none")
    if image_path is not None and not options.takes_image and image_reference is None:
        raise KlingError.invalid(
            "image", f"the local images model ({options.model}) runs no image-to-image; "
            "send a prompt alone")
    if image_reference is not None:
        if not options.reference_adapter:
            raise KlingError.invalid("image_reference", f"not supported by the local images "
                                     f"model ({options.model}): it has no reference_adapter")
        if image_path is None:
            raise KlingError.invalid("image_reference", "needs an image: the picture whose "
                                     f"{image_reference} the new pictures follow")
    side = options.side_1k if resolution == "1k" else options.side_2k
    ratio_w, ratio_h = IMAGE_ASPECT_RATIOS[aspect_ratio]
    width, height = size_for_ratio(ratio_w, ratio_h, side * side, options.size_multiple)
    strength = None
    reference_path, adapter = None, None
    if image_reference is not None:
        # A reference, not a starting picture: text-to-image steered by IP-Adapter.
        reference_path, image_path = image_path, None
        adapter = reference_adapter(options, image_reference, image_fidelity, human_fidelity)
    elif image_path is not None:
        # Fidelity 1 would keep the reference unchanged and run no step at all: leave one.
        strength = max(1.0 / options.steps, min(1.0, 1.0 - image_fidelity))
    return ImagesCall(
        prompt=prompt,
        negative_prompt=negative_prompt or options.negative_prompt,
        width=width,
        height=height,
        n=n,
        num_inference_steps=options.steps,
        guidance_scale=options.guidance,
        seed=seed,
        image_path=image_path,
        strength=strength,
        reference_path=reference_path,
        reference_adapter=adapter,
    )


#: Kling's text-to-audio limits (kling-api.md; Kling's reference: prompt <= 200 characters,
#: duration 3.0..10.0 s with at most one decimal).
AUDIO_PROMPT_MAX = 200
AUDIO_SECONDS = (3.0, 10.0)
#: The stored fields a text-to-audio request may carry: Kling's and the server's own.
AUDIO_FIELDS = frozenset({"prompt", "duration", "model_name", "routed_model"})


@dataclass(frozen=True)
class AudioCall:
    """One sound of `seconds` from a text prompt (plain data: it crosses to the model
    process)."""

    prompt: str
    negative_prompt: str
    seconds: float
    num_inference_steps: int
    guidance_scale: float
    seed: int
    kind: str = "audio"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def audio_seconds(value: Any) -> float:
    """Kling's `duration` of a sound: a number or numeric string, 3.0..10.0, one decimal."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise KlingError.invalid("duration", "must be a number of seconds, 3.0 to 10.0")
    try:
        seconds = float(value)
    except ValueError:
        raise KlingError.invalid("duration", "must be a number of seconds, 3.0 to 10.0") \
            from None
    low, high = AUDIO_SECONDS
    if not (math.isfinite(seconds) and low <= seconds <= high):
        raise KlingError.invalid("duration", f"must be {low} to {high} seconds")
    if abs(seconds * 10 - round(seconds * 10)) > 1e-6:
        raise KlingError.invalid("duration", "takes at most one decimal (e.g. 3.5)")
    return round(seconds, 1)


def text_to_audio_call(request: dict[str, Any], *, seed: int,
                       options: AudioOptions) -> AudioCall:
    """The whole text-to-audio mapping: the stored request -> one pipeline call; refuses
    (400 / 1201) what Kling refuses and any field the model cannot honour."""
    for name in sorted(request):
        if name not in AUDIO_FIELDS and request[name] not in (None, "", [], {}):
            raise KlingError.invalid(name, "not supported by the local diffusers provider for "
                                     "audio/text-to-audio (it takes prompt and duration)")
    prompt = request.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise KlingError.invalid("prompt", "is required: the sound to make")
    if len(prompt) > AUDIO_PROMPT_MAX:
        raise KlingError.invalid("prompt", f"must be at most {AUDIO_PROMPT_MAX} characters")
    if request.get("duration") is None:
        raise KlingError.invalid("duration", "is required: seconds of sound, 3.0 to 10.0")
    seconds = audio_seconds(request["duration"])
    if seconds > options.max_seconds:
        raise KlingError.invalid("duration", f"the local model {options.model} makes at most "
                                 f"{options.max_seconds} s")
    return AudioCall(prompt=prompt, negative_prompt=options.negative_prompt, seconds=seconds,
                     num_inference_steps=options.steps, guidance_scale=options.guidance,
                     seed=seed)


#: Kling's outpainting limits (Kling's reference for images/editing/expand: each ratio 0..2 of
#: the image's side; the expanded picture at most 3 times the image's area; prompt <= 2500
#: characters; n 1..9).
EXPANSION_RATIOS = ("up_expansion_ratio", "down_expansion_ratio", "left_expansion_ratio",
                    "right_expansion_ratio")
EXPANSION_MAX = 2.0
EXPANDED_AREA_MAX = 3.0
EXPAND_PROMPT_MAX = 2500
EXPAND_N = (1, 9)
#: Fields the server stores with a request (never the client's to set).
SERVER_FIELDS = frozenset({"model_name", "routed_model", "inputs", "ignored_fields", "front"})
EXPAND_FIELDS = frozenset({"prompt", "n", *EXPANSION_RATIOS}) | SERVER_FIELDS


@dataclass(frozen=True)
class ExpandCall:
    """`n` outpaintings of one image (plain data: it crosses to the model process).

    `width` x `height` is the canvas (the result's size); the image lies at `left`, `top` at
    its own size; the model renders at `work_width` x `work_height`."""

    prompt: str
    negative_prompt: str
    image_path: str
    width: int
    height: int
    left: int
    top: int
    work_width: int
    work_height: int
    n: int
    num_inference_steps: int
    guidance_scale: float
    seed: int
    kind: str = "expand"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ratio(request: dict[str, Any], name: str) -> float:
    value = request.get(name)
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or not 0.0 <= value <= EXPANSION_MAX:
        raise KlingError.invalid(name, f"must be a number from 0 to {EXPANSION_MAX} (times "
                                 "the image's side)")
    return float(value)


def expand_call(request: dict[str, Any], *, image_size: tuple[int, int], image_path: str,
                seed: int, options: ExpandOptions) -> ExpandCall:
    """The whole outpainting mapping: the stored request and the stored image's size -> one
    pipeline call; refuses (400 / 1201) what Kling refuses and any field it cannot honour."""
    # The image is stored apart (`inputs`) but was sent: values neutral without one (a
    # reference image's fidelities) ask for something here.
    sent = {**request, "image": "sent"}
    for name in sorted(request):
        if name not in EXPAND_FIELDS and asks_for(name, request[name], sent):
            raise KlingError.invalid(name, "not supported by the local diffusers provider for "
                                     "images/editing/expand (it takes image, prompt, n and "
                                     "the four expansion ratios)")
    up, down, left, right = (_ratio(request, name) for name in EXPANSION_RATIOS)
    wide, high = 1.0 + left + right, 1.0 + up + down
    if wide * high > EXPANDED_AREA_MAX + 1e-9:
        raise KlingError.invalid("up_expansion_ratio", "with down, left and right the expanded "
                                 f"image is {wide * high:.2f} times the image's area; at most "
                                 f"{EXPANDED_AREA_MAX:g}")
    if wide * high <= 1.0:
        raise KlingError.invalid("up_expansion_ratio", "with down, left and right: at least "
                                 "one expansion ratio must be above 0 (nothing to expand)")
    prompt = request.get("prompt")
    if prompt is None:
        prompt = ""
    if not isinstance(prompt, str) or len(prompt) > EXPAND_PROMPT_MAX:
        raise KlingError.invalid("prompt", f"must be text of at most {EXPAND_PROMPT_MAX} "
                                 "characters")
    n = request.get("n", 1)
    if n is None:
        n = 1
    if isinstance(n, bool) or not isinstance(n, int) or not EXPAND_N[0] <= n <= EXPAND_N[1]:
        raise KlingError.invalid("n", f"must be a whole number from {EXPAND_N[0]} to "
                                 f"{EXPAND_N[1]}")
    image_w, image_h = image_size
    width, height = round(image_w * wide), round(image_h * high)
    work_w, work_h = size_for_ratio(width, height, options.area, options.size_multiple)
    return ExpandCall(
        prompt=prompt, negative_prompt=options.negative_prompt, image_path=image_path,
        width=width, height=height, left=round(image_w * left), top=round(image_h * up),
        work_width=work_w, work_height=work_h, n=n, num_inference_steps=options.steps,
        guidance_scale=options.guidance, seed=seed,
    )


#: The stored fields a multi-image2video request may carry: Kling's that the model honours
#: and the server's own (`image_list` keeps only what each object holds beside its image).
MULTI_IMAGE_FIELDS = frozenset({"prompt", "negative_prompt", "image_list", "mode", "duration",
                                "aspect_ratio", "cfg_scale"}) | SERVER_FIELDS
REFERENCE_LIST = "image_list"


@dataclass(frozen=True)
class ReferenceVideoCall(PipelineCall):
    """A text-to-video call plus the reference images the video shows (plain data: it
    crosses to the model process); the images in Kling's order."""

    reference_image_paths: list[str]
    kind: str = "video"


def reference_inputs(inputs: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """The stored `image_list` images, (input name, stored copy), in the client's order."""
    prefix = f"{REFERENCE_LIST}."
    found = [(int(name.split(".")[1]), name, meta) for name, meta in inputs.items()
             if name.startswith(prefix) and name.split(".")[1].isdigit()]
    return [(name, meta) for _, name, meta in sorted(found)]


def refuse_entry_keys(request: dict[str, Any], list_name: str, image_key: str) -> None:
    """Refuses (400 / 1201) any key beside the image of a `list_name` entry that asks for
    something: the local models take each entry's image alone (stored apart at create)."""
    for index, item in enumerate(request.get(list_name) or ()):
        for key, value in (item.items() if isinstance(item, dict) else ()):
            if asks_for(key, value, item):
                raise KlingError.invalid(f"{list_name}.{index}.{key}", "not supported by the "
                                         f"local diffusers provider (each {list_name} entry "
                                         f"takes only {image_key})")


def _text(request: dict[str, Any], name: str) -> str | None:
    value = request.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_PROMPT:
        raise KlingError.invalid(name, f"must be text of at most {MAX_PROMPT} characters")
    return value


def multi_image2video_call(request: dict[str, Any], *, reference_paths: list[str], seed: int,
                           options: MultiImageOptions) -> ReferenceVideoCall:
    """The whole multi-image2video mapping: the stored request and the paths of its stored
    images (in order) -> one pipeline call; refuses (400 / 1201) what Kling refuses and any
    field the model cannot honour."""
    for name in sorted(request):
        if name not in MULTI_IMAGE_FIELDS and asks_for(name, request[name], request):
            raise KlingError.invalid(name, "not supported by the local diffusers provider for "
                                     "videos/multi-image2video (it takes image_list, prompt, "
                                     "negative_prompt, cfg_scale, mode, duration and "
                                     "aspect_ratio)")
    refuse_entry_keys(request, REFERENCE_LIST, "image")
    if not reference_paths:
        raise KlingError.invalid(REFERENCE_LIST, "is required: 1 to "
                                 f"{MAX_REFERENCE_IMAGES} reference images "
                                 '([{"image": URL or raw base64}, ...])')
    if len(reference_paths) > MAX_REFERENCE_IMAGES:
        raise KlingError.invalid(REFERENCE_LIST, f"takes at most {MAX_REFERENCE_IMAGES} images")
    prompt = _text(request, "prompt")
    if prompt is None or not prompt.strip():
        raise KlingError.invalid("prompt", "is required: what the subjects of the images do")
    negative_prompt = _text(request, "negative_prompt")
    mode = request.get("mode") or "std"
    if mode not in MODES:
        raise KlingError.invalid("mode", f"must be one of {', '.join(MODES)}")
    aspect_ratio = request.get("aspect_ratio") or "16:9"
    if aspect_ratio not in ASPECT_RATIOS:
        raise KlingError.invalid("aspect_ratio", f"must be one of {', '.join(ASPECT_RATIOS)}")
    cfg_scale = request.get("cfg_scale")
    if cfg_scale is None:
        cfg_scale = 0.5
    if isinstance(cfg_scale, bool) or not isinstance(cfg_scale, int | float) \
            or not 0 <= cfg_scale <= 1:
        raise KlingError.invalid("cfg_scale", "must be a number from 0 to 1")
    duration = request.get("duration")
    if duration is None:
        duration = 5
    if isinstance(duration, bool) or not isinstance(duration, int) or duration < 1:
        raise KlingError.invalid("duration", 'must be whole seconds, e.g. "5" or "10"')
    width, height = frame_size(aspect_ratio, options.width, options.height)
    pro = mode == "pro"
    return ReferenceVideoCall(
        prompt=prompt,
        negative_prompt=negative_prompt or options.negative_prompt,
        width=width,
        height=height,
        num_frames=frame_count(duration, options.fps, options.frame_step),
        num_inference_steps=options.pro_steps if pro else options.std_steps,
        guidance_scale=guidance_scale(float(cfg_scale), options.guidance_default,
                                      options.guidance_min),
        fps=options.fps,
        seed=seed,
        max_sequence_length=options.max_sequence_length,
        reference_image_paths=list(reference_paths),
    )


#: Kling's multi-image2image limits (its reference: 1 to 4 subject images, prompt <= 2500
#: characters, n 1..9, the eight image aspect ratios).
SUBJECT_LIST = "subject_image_list"
SUBJECT_KEY = "subject_image"
EDIT_IMAGE_FIELDS = ("scene_image", "style_image")
EDIT_N = (1, 9)
MULTI_IMAGE2IMAGE_FIELDS = frozenset({"prompt", "n", "aspect_ratio", SUBJECT_LIST,
                                      *EDIT_IMAGE_FIELDS}) | SERVER_FIELDS


@dataclass(frozen=True)
class EditCall:
    """`n` pictures made from several input pictures and an instruction (plain data: it
    crosses to the model process); the pictures in the order the instruction names them."""

    prompt: str
    negative_prompt: str
    image_paths: list[str]
    width: int
    height: int
    n: int
    num_inference_steps: int
    guidance_scale: float
    input_area: int
    seed: int
    kind: str = "edit"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def subject_inputs(inputs: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """The stored `subject_image_list` images, (input name, stored copy), in the client's
    order."""
    prefix = f"{SUBJECT_LIST}."
    found = [(int(name.split(".")[1]), name, meta) for name, meta in inputs.items()
             if name.startswith(prefix) and name.split(".")[1].isdigit()]
    return [(name, meta) for _, name, meta in sorted(found)]


def edit_instruction(prompt: str, subjects: int, scene: bool, style: bool) -> str:
    """The prompt with a first line naming each picture's role, as the pipeline numbers
    them ("Picture 1", ...: subjects first, then the scene, then the style)."""
    names = [f"Picture {index}" for index in range(1, subjects + 1)]
    roles = [f"The subject{'s are' if subjects > 1 else ' is'} in {', '.join(names)}."]
    number = subjects
    if scene:
        number += 1
        roles.append(f"Place {'them' if subjects > 1 else 'it'} in the scene of "
                     f"Picture {number}.")
    if style:
        number += 1
        roles.append(f"Render it in the style of Picture {number}.")
    return " ".join(roles) + "\n" + prompt


def multi_image2image_call(request: dict[str, Any], *, subject_paths: list[str],
                           scene_path: str | None, style_path: str | None, seed: int,
                           options: MultiImage2ImageOptions) -> EditCall:
    """The whole multi-image2image mapping: the stored request and the paths of its stored
    images -> one pipeline call; refuses (400 / 1201) what Kling refuses and any field the
    model cannot honour."""
    # The images are stored apart (`inputs`) but were sent: values neutral without an image
    # (a reference image's fidelities) ask for something here.
    sent = {**request, "image": "sent"}
    for name in sorted(request):
        if name not in MULTI_IMAGE2IMAGE_FIELDS and asks_for(name, request[name], sent):
            raise KlingError.invalid(name, "not supported by the local diffusers provider for "
                                     "images/multi-image2image (it takes subject_image_list, "
                                     "scene_image, style_image, prompt, n and aspect_ratio)")
    refuse_entry_keys(request, SUBJECT_LIST, SUBJECT_KEY)
    if not subject_paths:
        raise KlingError.invalid(SUBJECT_LIST, f"is required: 1 to {MAX_SUBJECT_IMAGES} "
                                 'subject images ([{"subject_image": URL or raw base64}, '
                                 "...])")
    if len(subject_paths) > MAX_SUBJECT_IMAGES:
        raise KlingError.invalid(SUBJECT_LIST, f"takes at most {MAX_SUBJECT_IMAGES} images")
    prompt = _text(request, "prompt")
    if prompt is None or not prompt.strip():
        raise KlingError.invalid("prompt", "is required: what to make of the subjects")
    n = request.get("n")
    if n is None:
        n = 1
    if isinstance(n, bool) or not isinstance(n, int) or not EDIT_N[0] <= n <= EDIT_N[1]:
        raise KlingError.invalid("n", f"must be a whole number from {EDIT_N[0]} to "
                                 f"{EDIT_N[1]}")
    aspect_ratio = request.get("aspect_ratio") or "16:9"
    if aspect_ratio not in IMAGE_ASPECT_RATIOS:
        raise KlingError.invalid("aspect_ratio",
                                 f"must be one of {', '.join(IMAGE_ASPECT_RATIOS)}")
    ratio_w, ratio_h = IMAGE_ASPECT_RATIOS[aspect_ratio]
    width, height = size_for_ratio(ratio_w, ratio_h, options.area, options.size_multiple)
    paths = [*subject_paths, *(path for path in (scene_path, style_path) if path)]
    return EditCall(
        prompt=edit_instruction(prompt, len(subject_paths), scene_path is not None,
                                style_path is not None),
        negative_prompt=options.negative_prompt, image_paths=paths, width=width,
        height=height, n=n, num_inference_steps=options.steps,
        guidance_scale=options.guidance, input_area=options.input_area, seed=seed,
    )
