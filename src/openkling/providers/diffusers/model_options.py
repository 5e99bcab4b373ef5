"""Options of the local diffusers provider (the model and how it runs), parsed once from
`provider_options.diffusers`.

Values may arrive as strings (environment variables), so every field is a typed Pydantic
field that coerces. Fields fall into two groups: those fixed when the model process loads
the pipeline (`LOAD_FIELDS`) and those applied per task, which a model route may override.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

#: Default model: Wan 2.1 text-to-video, 1.3B parameters, 480p, 16 fps.
DEFAULT_MODEL = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
#: The model option's default: picked from the GPU memory found at start-up (no GPU:
#: DEFAULT_MODEL), resolved when the options are parsed.
AUTO_MODEL = "auto"
#: The special model id of a tiny randomly initialised Wan pipeline built in code: it produces
#: noise, in well under a second per video on a CPU, for smoke tests and demos.
TINY_MODEL = "tiny-random-wan"
#: Random weights at the published Wan 2.1 T2V 1.3B architecture, built in memory on the
#: device: same compute and memory as the real model, for benchmarks without the hub.
RANDOM_WAN_1_3B = "random-wan2.1-1.3b"
#: The same structure scaled down: the CPU test path of RANDOM_WAN_1_3B.
RANDOM_WAN_SMALL = "random-wan-small"
#: A tiny random LTX-2 (video with sound), built in code like TINY_MODEL.
TINY_LTX2 = "tiny-random-ltx2"
#: Wan 2.2 A14B (two experts) at its published size, random weights, built on the device.
RANDOM_WAN22_A14B = "random-wan2.2-a14b"
#: Its tiny twin, built in code and saved like TINY_MODEL.
TINY_WAN22_A14B = "tiny-random-wan2.2-a14b"
#: Wan 2.1 VACE 1.3B (reference images to video) at its published size, random weights,
#: built on the device.
RANDOM_WAN21_VACE_1_3B = "random-wan2.1-vace-1.3b"
#: LTX-2 (19B, video with sound) at its published size, random weights, built on the device.
RANDOM_LTX2 = "random-ltx2"
#: HunyuanVideo 1.5 (480p text-to-video) as diffusers' docs load it from the hub.
HUNYUANVIDEO15_T2V = "hunyuanvideo-community/HunyuanVideo-1.5-480p_t2v"
#: Its architecture at the published size, random weights, built on the device.
RANDOM_HUNYUANVIDEO15 = "random-hunyuanvideo15"
#: Its tiny twin, built in code and saved like TINY_MODEL.
TINY_HUNYUANVIDEO15 = "tiny-random-hunyuanvideo15"
#: FLUX.1-dev (an images model) at its published size, random weights, built on the device.
RANDOM_FLUX_1_DEV = "random-flux.1-dev"
#: The text-to-video models that make every other local family use its tiny model too.
TINY_TEXT_MODELS = (TINY_MODEL, TINY_LTX2, TINY_WAN22_A14B, TINY_HUNYUANVIDEO15)
#: Random-weight text-to-video models built on the device (no save, no download; the
#: images model RANDOM_FLUX_1_DEV is built the same way).
BUILT_ON_DEVICE = (RANDOM_WAN_1_3B, RANDOM_WAN_SMALL, RANDOM_WAN22_A14B,
                   RANDOM_WAN21_VACE_1_3B, RANDOM_LTX2, RANDOM_HUNYUANVIDEO15)

DEFAULT_NEGATIVE_PROMPT = (
    "blurry, low quality, worst quality, jpeg artifacts, static, still picture, overexposed, "
    "washed out colors, subtitles, text, watermark, logo, deformed, disfigured, bad anatomy, "
    "extra fingers, poorly drawn hands, poorly drawn face, fused fingers, messy background, "
    "walking backwards"
)

#: Defaults that differ for the tiny model: a small frame, few steps, a short text window.
TINY_DEFAULTS: dict[str, Any] = {
    "width": 80,
    "height": 48,
    "std_steps": 2,
    "pro_steps": 4,
    "max_sequence_length": 64,
}

#: Defaults of the built-in random models; the full-size one keeps Wan's own (832x480...).
RANDOM_MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    TINY_MODEL: TINY_DEFAULTS,
    # 2 fps: a 5 s clip is 9 frames, so the CPU test path takes seconds, not minutes.
    RANDOM_WAN_SMALL: {"width": 96, "height": 64, "fps": 2, "std_steps": 2, "pro_steps": 4,
                       "max_sequence_length": 32},
    RANDOM_WAN_1_3B: {},
    # Wan 2.2 A14B at 480p: 832x480, 16 fps (its defaults); 40 steps as published.
    RANDOM_WAN22_A14B: {"std_steps": 40, "pro_steps": 40, "guidance_default": 4.0},
    "Wan-AI/Wan2.2-T2V-A14B-Diffusers": {"std_steps": 40, "pro_steps": 40,
                                         "guidance_default": 4.0},
    TINY_WAN22_A14B: TINY_DEFAULTS,
    # HunyuanVideo 1.5 480p: 848x480 (its 16:9 bucket at target size 640), 24 fps, frames
    # 4k + 1 (121 for 5 s), 50 steps, guidance 6.0 (the model card's).
    HUNYUANVIDEO15_T2V: {"width": 848, "height": 480, "fps": 24, "frame_step": 4,
                         "std_steps": 50, "pro_steps": 50, "guidance_default": 6.0},
    RANDOM_HUNYUANVIDEO15: {"width": 848, "height": 480, "fps": 24, "frame_step": 4,
                            "std_steps": 50, "pro_steps": 50, "guidance_default": 6.0},
    # The tiny one: 80x48 (its 16:9 bucket at target size 64); 4 fps keeps 5 s at 21 frames.
    TINY_HUNYUANVIDEO15: {**TINY_DEFAULTS, "fps": 4, "pro_steps": 3, "guidance_default": 6.0},
    # LTX-2 sides are multiples of 32; the tiny VAE compresses time 2x (frames 2k + 1) and
    # 2 fps keeps a 5 s clip at 11 frames. Guidance 3.0 at cfg_scale 0.5: LTX2Pipeline's own.
    TINY_LTX2: {"width": 64, "height": 32, "size_multiple": 32, "fps": 2, "frame_step": 2,
                "std_steps": 2, "pro_steps": 3, "max_sequence_length": 16,
                "guidance_default": 3.0},
    # LTX-2 at 480p: 832x480 (sides multiples of 32), 24 fps, 8x time (frames 8k + 1: 121
    # for 5 s); LTX2Pipeline's own 30 steps, guidance 3.0 and 1024 text tokens.
    RANDOM_LTX2: {"size_multiple": 32, "fps": 24, "frame_step": 8, "std_steps": 30,
                  "pro_steps": 40, "max_sequence_length": 1024, "guidance_default": 3.0},
}

#: Fields the model process needs at load time; changing one means loading another pipeline.
LOAD_FIELDS: tuple[str, ...] = (
    "model",
    "pipeline",
    "device",
    "devices",
    "dtype",
    "cpu_threads",
    "vae_fp32",
    "flow_shift",
    "cpu_offload",
    "quantization",
    "vae_tiling",
    "torch_compile",
    "compile_mode",
    "cache",
    "cache_threshold",
    "cache_interval",
    "cache_warmup_steps",
    "cache_max_order",
    "cache_max_skip_steps",
    "cache_retention_ratio",
    "cache_mag_ratios",
    "cache_calibrate",
    "attention_backend",
)


#: Which `cache` hooks each cache option belongs to (any other hook refuses it).
CACHE_HOOK_OPTIONS: dict[str, tuple[str, ...]] = {
    "cache_threshold": ("first_block", "mag"),
    "cache_interval": ("taylorseer",),
    "cache_warmup_steps": ("taylorseer",),
    "cache_max_order": ("taylorseer",),
    "cache_max_skip_steps": ("mag",),
    "cache_retention_ratio": ("mag",),
    "cache_mag_ratios": ("mag",),
    "cache_calibrate": ("mag",),
}


class DiffusersOptions(BaseModel):
    """Everything configurable about local generation (documented in docs/providers.md)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    # What to load, and where.
    model: str = Field(
        AUTO_MODEL,
        validation_alias=AliasChoices("model", "model_id"),
        description="'auto' (the default: the best catalogue text-to-video model that fits "
        "the GPU's memory found at start-up, Wan 2.1 1.3B on a CPU; catalogue.auto_model), "
        "a diffusers pipeline id on the Hugging Face hub, a local folder, or "
        f"a built-in random model: '{TINY_MODEL}', '{TINY_LTX2}' (with sound), "
        f"'{TINY_WAN22_A14B}', '{TINY_HUNYUANVIDEO15}', '{RANDOM_WAN_SMALL}', "
        f"'{RANDOM_WAN_1_3B}', '{RANDOM_WAN22_A14B}', '{RANDOM_LTX2}' or "
        f"'{RANDOM_HUNYUANVIDEO15}' (random weights, noise only; the last four at full size, "
        "for benchmarks). `openkling models` lists them all.",
    )
    pipeline: str = Field(
        "auto",
        description="Pipeline class: 'auto' (DiffusionPipeline reads model_index.json) or a "
        "diffusers class name such as 'WanPipeline'.",
    )
    device: str = Field("auto", description="'auto' (cuda when available, else cpu), 'cpu', "
                        "'cuda' or 'cuda:N'.")
    devices: list[str] | None = Field(
        None, description="Several devices on one host, one model process each, each fed its "
        "own task: a list or a comma-separated string ('0,1,2,3' means cuda:0..cuda:3; "
        "'cpu,cpu' runs two CPU processes). Overrides `device`.",
    )
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="'auto': bfloat16 on CUDA, float32 on CPU."
    )
    cpu_threads: int | None = Field(
        None, ge=1, description="Torch threads when the device is the CPU; default: all cores "
        "but one, which stays free for the API process.",
    )
    vae_fp32: bool = Field(True, description="Keep the VAE in float32 (Wan's recommendation).")
    flow_shift: float | None = Field(
        None, gt=0, description="Override the scheduler's flow_shift (Wan: 3.0 at 480p, 5.0 at "
        "720p).",
    )

    # Memory savers and speed-ups.
    cpu_offload: Literal["auto", "none", "model", "sequential"] = Field(
        "auto", description="'auto': picked from the GPU's memory at start-up and the "
        "catalogue's estimate for the model (catalogue.offload_for): 'none' on a CPU, for a "
        "model outside the catalogue, or where the weights fit in 85 % of the GPU; else "
        "'model' where the largest component fits; else 'sequential'.",
    )
    quantization: Literal["none", "int8wo", "fp8wo"] = Field(
        "none", description="Weight-only quantization of the transformer(s) with torchao "
        "(docs/providers.md, 'Quantization'): 'int8wo' (int8 weights, any device) or 'fp8wo' "
        "(float8, a GPU of compute capability 8.9+). Halves the transformer's memory, so "
        "cpu_offload 'auto' and model 'auto' count it; refused at load for a pipeline "
        "without a transformer.",
    )
    vae_tiling: bool = False
    torch_compile: bool = False
    compile_mode: str | None = Field(None, description="torch.compile mode, e.g. "
                                     "'max-autotune-no-cudagraphs'.")
    cache: Literal["none", "first_block", "taylorseer", "mag"] = Field(
        "none", description="Transformer cache hook (docs/providers.md, 'Transformer caches'): "
        "'first_block' skips the remaining blocks when the first block's residual barely "
        "changes between steps; 'taylorseer' skips the blocks on all but every "
        "cache_interval-th step and predicts the output from a Taylor series; 'mag' skips "
        "steps while the accumulated magnitude-ratio error stays under the threshold (needs "
        "cache_mag_ratios, or cache_calibrate to measure them). 'first_block' and 'mag' do not "
        "support LTX-2; 'mag' not two experts (Wan 2.2 A14B): refused at load.",
    )
    cache_threshold: float | None = Field(
        None, gt=0, description="'first_block' and 'mag': higher skips more. Default: "
        "diffusers' (0.05 first_block, 0.06 mag).")
    cache_interval: int | None = Field(
        None, ge=1, description="'taylorseer': one full computation every N steps (default 5).")
    cache_warmup_steps: int | None = Field(
        None, ge=0, description="'taylorseer': steps computed in full before predicting "
        "(default 3).")
    cache_max_order: int | None = Field(
        None, ge=1, le=4, description="'taylorseer': Taylor series order (default 1).")
    cache_max_skip_steps: int | None = Field(
        None, ge=1, description="'mag': most consecutive steps skipped (default 3).")
    cache_retention_ratio: float | None = Field(
        None, ge=0, le=1, description="'mag': share of the first steps never skipped "
        "(default 0.2).")
    cache_mag_ratios: list[float] | None = Field(
        None, min_length=2, description="'mag': the model's magnitude ratios, one per step "
        "of a calibration run (interpolated to each call's steps); a list or a "
        "comma-separated string. Published in diffusers for FLUX only, which openkling "
        "does not serve: measure them with cache_calibrate.")
    cache_calibrate: bool = Field(
        False, description="'mag': skip nothing, and log the model's magnitude ratios after "
        "each render (to set as cache_mag_ratios).")
    attention_backend: str | None = Field(
        None, description="diffusers attention backend, e.g. 'flash' or '_native_cudnn'."
    )

    # Per-task mapping of the Kling request.
    width: int = Field(832, ge=16, description="Frame width for 16:9 at the std preset.")
    height: int = Field(480, ge=16, description="Frame height for 16:9 at the std preset.")
    fps: int = Field(16, ge=1, le=120, description="The model's frame rate.")
    frame_step: int = Field(4, ge=1, description="Frame counts are frame_step * k + 1.")
    size_multiple: int = Field(16, ge=1, description="Every frame side is a multiple of this "
                               "(16 for Wan; 32 for LTX-2).")
    std_steps: int = Field(30, ge=1, le=1000)
    pro_steps: int = Field(50, ge=1, le=1000)
    std_scale: float = Field(1.0, gt=0, le=4, description="Resolution scale of mode=std.")
    pro_scale: float = Field(1.0, gt=0, le=4, description="Resolution scale of mode=pro.")
    guidance_default: float = Field(
        5.0, ge=0, description="Guidance scale at cfg_scale 0.5 (Kling's default)."
    )
    guidance_min: float = Field(
        1.0, ge=0, description="Guidance scale at cfg_scale 0 (1.0 turns guidance off)."
    )
    negative_prompt: str = Field(DEFAULT_NEGATIVE_PROMPT, description="Used when the request "
                                 "has none.")
    max_sequence_length: int = Field(512, ge=8, le=4096)
    seed: int | None = Field(None, ge=0, description="Fixed seed; default derived from the "
                             "task id, so a retried task renders the same video.")
    # The other local families, each in its own model process (see families.py).
    image2video: dict[str, Any] = Field(
        default_factory=dict, description="Options of the image-to-video model (videos/"
        "image2video); default Wan 2.2 TI2V 5B, the tiny one with the tiny model.",
    )
    images: dict[str, Any] = Field(
        default_factory=dict, description="Options of the text-to-image model (images/"
        "generations); default SDXL base 1.0, the tiny one with the tiny model.",
    )
    audio: dict[str, Any] = Field(
        default_factory=dict, description="Options of the text-to-audio model (audio/"
        "text-to-audio); default Stable Audio Open 1.0, the tiny one with the tiny model.",
    )
    expand: dict[str, Any] = Field(
        default_factory=dict, description="Options of the outpainting model (images/editing/"
        "expand); default Qwen-Image (inpainting), the tiny one with the tiny model.",
    )
    multi_image2video: dict[str, Any] = Field(
        default_factory=dict, description="Options of the reference-to-video model (videos/"
        "multi-image2video); default Wan 2.1 VACE 1.3B, the tiny one with the tiny model.",
    )
    omni_video: dict[str, Any] = Field(
        default_factory=dict, description="Options of the omni-video model (videos/omni-video: "
        "reference images, first and end frames); default Wan 2.1 VACE 1.3B, the tiny one "
        "with the tiny model.",
    )
    extend: dict[str, Any] = Field(
        default_factory=dict, description="Options of the video-extension model (videos/"
        "video-extend); default LTX-Video 0.9.5 (condition pipeline), the tiny one with the "
        "tiny model.",
    )
    multi_image2image: dict[str, Any] = Field(
        default_factory=dict, description="Options of the multi-image editing model (images/"
        "multi-image2image); default Qwen-Image-Edit-2509, the tiny one with the tiny model.",
    )
    omni_image: dict[str, Any] = Field(
        default_factory=dict, description="Options of the omni-image model (images/"
        "omni-image); default Qwen-Image-Edit-2509, the tiny one with the tiny model.",
    )
    multi_elements: dict[str, Any] = Field(
        default_factory=dict, description="Options of videos/multi-elements: the Wan VACE "
        "model's (as multi_image2video's) and its `segmenter` (SAM 2 video, default "
        "facebook/sam2.1-hiera-tiny); the tiny ones with the tiny model.",
    )
    cancel_grace_seconds: float = Field(
        60.0, gt=0, description="How long a cancelled generation may take to stop at the next "
        "step before the model process is killed and restarted.",
    )

    @model_validator(mode="before")
    @classmethod
    def _random_model_defaults(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict):
            model = data.get("model", data.get("model_id", AUTO_MODEL))
            if model == AUTO_MODEL:
                model = _auto_model(data, (info.context or {}).get("gpu_memory"))
                data = {key: value for key, value in data.items() if key != "model_id"}
                data["model"] = model
            if model in RANDOM_MODEL_DEFAULTS:
                return {**RANDOM_MODEL_DEFAULTS[model], **data}
        return data

    @model_validator(mode="after")
    def _family_options_valid(self) -> DiffusersOptions:
        from openkling.providers.diffusers.extend import extend_options
        from openkling.providers.diffusers.families import (
            audio_options,
            expand_options,
            image2video_options,
            image_options,
            multi_image2image_options,
            multi_image_options,
        )
        from openkling.providers.diffusers.multi_elements import multi_elements_options
        from openkling.providers.diffusers.omni_image import omni_image_options
        from openkling.providers.diffusers.omni_video import omni_video_options

        for name, parse in (("image2video", image2video_options), ("images", image_options),
                            ("audio", audio_options), ("expand", expand_options),
                            ("multi_image2video", multi_image_options),
                            ("omni_video", omni_video_options),
                            ("extend", extend_options),
                            ("multi_image2image", multi_image2image_options),
                            ("omni_image", omni_image_options),
                            ("multi_elements", multi_elements_options)):
            try:
                parse(getattr(self, name), self.is_tiny, self.model)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(part) for part in (name, *first["loc"]))
                raise ValueError(f"{where}: {first['msg']}") from None
        return self

    @model_validator(mode="after")
    def _quantization_runs_here(self) -> DiffusersOptions:
        from openkling.providers.diffusers.quantization import check_quantization

        devices = {device.split(":", 1)[0] for device in self.device_list}
        # 'auto' resolves in the model process, which checks again with the GPU it finds.
        known = devices.pop() if len(devices) == 1 and "auto" not in devices else None
        check_quantization(self.quantization, known if known in ("cpu", "cuda") else None)
        return self

    @field_validator("cache_mag_ratios", mode="before")
    @classmethod
    def _ratio_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.strip("[] ").split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _cache_options_fit_the_hook(self) -> DiffusersOptions:
        for option, hooks in CACHE_HOOK_OPTIONS.items():
            if option in self.model_fields_set and getattr(self, option) not in (None, False) \
                    and self.cache not in hooks:
                raise ValueError(f"{option}: applies to cache = {' or '.join(map(repr, hooks))}"
                                 f", not {self.cache!r}")
        if self.cache == "mag" and not self.cache_mag_ratios and not self.cache_calibrate:
            raise ValueError(
                "cache_mag_ratios: cache = 'mag' needs the model's magnitude ratios (diffusers "
                "publishes FLUX's only); run once with cache_calibrate = true to log them")
        return self

    @field_validator("width", "height")
    @classmethod
    def _multiple_of_16(cls, value: int) -> int:
        if value % 16:
            raise ValueError("must be a multiple of 16")
        return value

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        return _check_device(value)

    @field_validator("devices", mode="before")
    @classmethod
    def _device_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",")]
        if isinstance(value, list | tuple):
            value = [f"cuda:{d}" if isinstance(d, int) or str(d).isdigit() else str(d)
                     for d in value]
            if not value or any(not d for d in value):
                raise ValueError("must name at least one device, e.g. '0,1' or 'cpu,cpu'")
            for device in value:
                _check_device(device)
        return value

    @property
    def device_list(self) -> list[str]:
        """One entry per model process: `devices` when set, else the single `device`."""
        return list(self.devices) if self.devices else [self.device]

    @property
    def is_tiny(self) -> bool:
        return self.model in TINY_TEXT_MODELS

    def load_config(self) -> dict[str, Any]:
        """The part the model process loads with (plain data: it crosses a process boundary)."""
        return {name: getattr(self, name) for name in LOAD_FIELDS}

    def load_config_for(self, device: str) -> dict[str, Any]:
        """The load config of the model process on one of `device_list`."""
        return {**self.load_config(), "device": device, "devices": None}

    def merged(self, overrides: dict[str, Any]) -> DiffusersOptions:
        """These options with a route's per-task overrides applied."""
        if not overrides:
            return self
        base = self.model_dump(exclude_unset=True)
        if overrides.get("model", self.model) != self.model:
            # Another model: the built-in defaults of this one (its size, steps) do not apply.
            for key, value in RANDOM_MODEL_DEFAULTS.get(self.model, {}).items():
                if base.get(key) == value:
                    del base[key]
        return parse_options({**base, **overrides})


def _auto_model(data: dict[str, Any], reader: Any) -> str:
    """The model `auto` names for these options' devices (catalogue.auto_model)."""
    from openkling.providers.diffusers.catalogue import auto_model
    from openkling.providers.diffusers.gpu_memory import gpu_memory

    devices = data.get("devices")
    if isinstance(devices, str):
        devices = [part.strip() for part in devices.split(",") if part.strip()]
    listed = [f"cuda:{d}" if isinstance(d, int) or str(d).isdigit() else str(d)
              for d in devices] if devices else [str(data.get("device", "auto"))]
    quantization = str(data.get("quantization", "none"))
    return auto_model((reader or gpu_memory)(listed), quantization)


def _check_device(value: str) -> str:
    base = value.split(":", 1)[0]
    if base not in ("auto", "cpu", "cuda", "mps", "xpu"):
        raise ValueError("must be 'auto', 'cpu', 'cuda', 'cuda:N', 'mps' or 'xpu'")
    return value


def parse_options(raw: dict[str, Any],
                  gpu_memory: Callable[[Sequence[str]], int | None] | None = None,
                  ) -> DiffusersOptions:
    """Parse provider options, failing with one readable line per bad option.

    `gpu_memory` reads the memory of the configured GPUs for `model = "auto"` (default:
    gpu_memory.gpu_memory, nvidia-smi); tests pass their own figures."""
    try:
        return DiffusersOptions.model_validate(dict(raw), context={"gpu_memory": gpu_memory})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc']) or 'options'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ValueError(f"invalid diffusers provider options: {problems}") from exc
