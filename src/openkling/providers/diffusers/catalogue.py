"""The model catalogue: one declaration per model the local provider serves.

What `openkling models`, the console's System page and docs/providers.md show: each model's
pipeline, the families it serves, its sizes, frame rate, frame step, durations, whether it
makes sound, the GPU memory it needs with and without offload, and its `test_model` (the
built-in tiny random model of the same architecture, which the CPU tests run end to end).

GPU memory figures are ESTIMATES from parameter counts (weights only, activations excluded:
see `ESTIMATE_RULE`); none has been measured on a GPU yet (`memory_measured` says so per
model). The parameter counts are those of the published architectures, checked against a
'meta' build of each (tests/unit/providers/diffusers/test_catalogue.py).

Pure data and functions: no torch here (the API process and the CLI import it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from openkling.core.families import (
    EXPAND,
    FAMILIES,
    IMAGE2VIDEO,
    IMAGES,
    MULTI_ELEMENTS,
    MULTI_IMAGE2IMAGE,
    MULTI_IMAGE2VIDEO,
    OMNI_IMAGE,
    OMNI_VIDEO,
    TEXT2VIDEO,
    TEXT_TO_AUDIO,
    VIDEO_EXTEND,
)

GIB = 1024**3

ESTIMATE_RULE = (
    "estimate from parameter counts: weights only (bfloat16, 2 bytes a parameter; the VAE in "
    "float32, 4 bytes, as vae_fp32 keeps it), activations excluded; with offload, the largest "
    "component (model offload keeps one component on the GPU at a time)"
)

#: The components the `quantization` option quantizes (Wan 2.2 A14B's second expert too).
QUANTIZED_COMPONENTS = ("transformer", "transformer_2")
#: Bytes a weight of a quantized component takes per `quantization` (weight-only: scales
#: and the unquantized norms and biases are left out of the estimate).
QUANTIZED_BYTES: dict[str, float] = {"int8wo": 1.0, "fp8wo": 1.0}


@dataclass(frozen=True)
class CatalogueModel:
    """One servable model. `parameters` maps each pipeline component to its parameter count."""

    name: str
    pipelines: dict[str, str]  # family -> diffusers pipeline class
    sizes: tuple[str, ...]  # width x height at the std preset, per aspect ratio
    fps: int | None
    frame_step: int | None
    durations: tuple[int, ...]  # seconds (videos); () for image models
    audio: bool
    parameters: dict[str, int]
    test_model: str
    built_in: bool = False  # random weights built in code: noise only
    note: str = ""
    memory_measured: bool = False
    defaults: dict[str, Any] = field(default_factory=dict)
    #: Rank among the text-to-video models `model = "auto"` may pick (higher is better;
    #: 0: never picked, e.g. random weights).
    auto_rank: int = 0

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(self.pipelines)

    def memory_bytes(self, offload: bool, quantization: str = "none") -> int:
        """GPU memory the weights need (see ESTIMATE_RULE); with `quantization`, the
        transformers' weights at its bytes a parameter (QUANTIZED_BYTES)."""
        quantized = QUANTIZED_BYTES.get(quantization)
        sizes = [int(count * (4 if component == "vae" else quantized
                              if quantized and component in QUANTIZED_COMPONENTS else 2))
                 for component, count in self.parameters.items()]
        return max(sizes, default=0) if offload else sum(sizes)

    def _gib(self, offload: bool) -> float | None:
        if not self.parameters:
            return None
        return round(self.memory_bytes(offload) / GIB, 1)

    def describe(self) -> dict[str, Any]:
        """Plain data, as `openkling models --json` and the console show it."""
        return {
            "name": self.name,
            "pipeline": ", ".join(dict.fromkeys(self.pipelines.values())),
            "pipelines": dict(self.pipelines),
            "families": list(self.families),
            "sizes": list(self.sizes),
            "fps": self.fps,
            "frame_step": self.frame_step,
            "durations": list(self.durations),
            "audio": self.audio,
            "parameters": sum(self.parameters.values()),
            "memory_gib": self._gib(offload=False),
            "memory_offload_gib": self._gib(offload=True),
            "memory_measured": self.memory_measured,
            "memory_note": ("measured" if self.memory_measured else ESTIMATE_RULE
                            if self.parameters else "a few MB: any CPU"),
            "test_model": self.test_model,
            "built_in": self.built_in,
            "note": self.note,
        }


# Parameter counts of the published architectures (a 'meta' build of each; see the test).
_WAN21_1_3B = {"transformer": 1_418_996_800, "text_encoder": 5_680_910_336,
               "vae": 126_892_531}
_WAN22_TI2V_5B = {"transformer": 4_999_787_712, "text_encoder": 5_680_910_336,
                  "vae": 704_688_668}
_SDXL_BASE = {"unet": 2_567_463_684, "text_encoder": 123_060_480,
              "text_encoder_2": 694_659_840, "vae": 83_653_863}
_WAN22_A14B = {"transformer": 14_288_491_584, "transformer_2": 14_288_491_584,
               "text_encoder": 5_680_910_336, "vae": 126_892_531}
_STABLE_AUDIO_OPEN = {"transformer": 1_056_939_136, "text_encoder": 109_628_544,
                      "projection_model": 396_544, "vae": 156_112_514}
_WAN21_VACE_1_3B = {"transformer": 2_153_972_032, "text_encoder": 5_680_910_336,
                    "vae": 126_892_531}
#: LTX-Video 0.9.5 (random_models.LTX_VIDEO_0_9_5; not compared with the hub's checkpoint).
_LTX_VIDEO_0_9_5 = {"transformer": 1_923_385_472, "text_encoder": 4_762_310_656,
                    "vae": 750_915_762}
#: Qwen/Qwen-Image-Edit-2509: the Qwen-Image transformer (60 layers, 24 heads x 128, text
#: width 3584), Qwen2.5-VL-7B-Instruct (its vision tower included) and the Qwen-Image VAE.
_QWEN_IMAGE_EDIT = {"transformer": 20_430_401_088, "text_encoder": 8_292_166_656,
                    "vae": 126_892_531}
#: LTX-2 19B (random_models.LTX2_19B): the audio-video transformer, Gemma 3 12B (its vision
#: tower included), the text connectors, the video VAE, the audio VAE and the vocoder.
_LTX2_19B = {"transformer": 18_876_174_592, "text_encoder": 12_187_325_040,
             "connectors": 1_431_475_200, "vae": 1_222_479_601, "audio_vae": 53_248_146,
             "vocoder": 55_592_802}
#: HunyuanVideo 1.5 480p (random_models.HUNYUANVIDEO15_480P, diffusers' defaults; not
#: compared with the hub's checkpoint): the 8.3B transformer, Qwen2.5-VL-7B's text model,
#: ByT5-small's encoder and the HunyuanVideo 1.5 VAE.
_HUNYUANVIDEO15_480P = {"transformer": 8_326_608_160, "text_encoder": 7_070_619_136,
                        "text_encoder_2": 217_657_472, "vae": 1_260_634_115}
#: FLUX.1-dev (random_models.FLUX_1_DEV): the 12B transformer, CLIP ViT-L/14 text, T5 v1.1
#: XXL's encoder and the 16-channel VAE.
_FLUX_1_DEV = {"transformer": 11_901_408_320, "text_encoder": 123_060_480,
               "text_encoder_2": 4_762_310_656, "vae": 83_819_683}
#: FLUX.2-dev (random_models.build_flux2_dev_parts, diffusers' defaults; not compared with
#: the hub's checkpoint): the 32B transformer, Mistral Small 3.1 24B and the FLUX.2 VAE.
_FLUX_2_DEV = {"transformer": 32_223_281_152, "text_encoder": 23_340_272_640,
               "vae": 84_046_115}
_HUNYUAN_SIZES = ("848x480", "480x848", "624x624")
_FLUX_SIZES = ("1k: about 1024x1024 area (1 MP), every Kling ratio",
               "2k: about 2048x2048 area (4 MP)")
_WAN_T2V_SIZES = ("832x480", "480x832", "624x624")
_SDXL_SIZES = ("1k: 1024x1024 area, every Kling ratio", "2k: 2048x2048 area")

_WAN21 = CatalogueModel(
    name="Wan-AI/Wan2.1-T2V-1.3B-Diffusers", pipelines={TEXT2VIDEO: "WanPipeline"},
    sizes=_WAN_T2V_SIZES, fps=16, frame_step=4, durations=(5, 10), audio=False,
    parameters=_WAN21_1_3B, test_model="tiny-random-wan",
    note="the default text-to-video model", auto_rank=1,
)
_TI2V = CatalogueModel(
    name="Wan-AI/Wan2.2-TI2V-5B-Diffusers", pipelines={IMAGE2VIDEO: "WanImageToVideoPipeline"},
    sizes=("1280x704 area, the input image's shape",), fps=24, frame_step=4, durations=(5, 10),
    audio=False, parameters=_WAN22_TI2V_5B, test_model="tiny-random-wan-i2v",
    note="the default image-to-video model (first frame only: no image_tail)",
)
_SDXL = CatalogueModel(
    name="stabilityai/stable-diffusion-xl-base-1.0",
    pipelines={IMAGES: "StableDiffusionXLPipeline"}, sizes=_SDXL_SIZES, fps=None,
    frame_step=None, durations=(), audio=False, parameters=_SDXL_BASE,
    test_model="tiny-random-sdxl", note="the default images model (image-to-image with "
    "AutoPipelineForImage2Image; image_reference through IP-Adapter Plus, h94/IP-Adapter)",
)

_STABLE_AUDIO = CatalogueModel(
    name="stabilityai/stable-audio-open-1.0",
    pipelines={TEXT_TO_AUDIO: "StableAudioPipeline"},
    sizes=("44.1 kHz stereo, up to 47 s; Kling asks 3.0..10.0 s",), fps=None, frame_step=None,
    durations=(), audio=True, parameters=_STABLE_AUDIO_OPEN,
    test_model="tiny-random-stable-audio",
    note="the default text-to-audio model (sound effects and music from a prompt; WAV and "
    "MP3 results; gated on the hub: accept its licence first)",
)

_VACE = CatalogueModel(
    name="Wan-AI/Wan2.1-VACE-1.3B-diffusers",
    pipelines={MULTI_IMAGE2VIDEO: "WanVACEPipeline", OMNI_VIDEO: "WanVACEPipeline",
               MULTI_ELEMENTS: "WanVACEPipeline"},
    sizes=_WAN_T2V_SIZES, fps=16, frame_step=4, durations=(5, 10), audio=False,
    parameters=_WAN21_VACE_1_3B, test_model="tiny-random-wan-vace",
    note="the default multi-image2video, omni-video and multi-elements model: Kling's "
    "reference images as VACE reference images, omni-video's first and end frames as its "
    "conditioning frames, multi-elements' selected element repainted under its masks",
)
_LTX_EXTEND = CatalogueModel(
    name="Lightricks/LTX-Video-0.9.5", pipelines={VIDEO_EXTEND: "LTXConditionPipeline"},
    sizes=("768x512 area, the source video's shape; resized to the source's size",),
    fps=None, frame_step=8, durations=(), audio=False, parameters=_LTX_VIDEO_0_9_5,
    test_model="tiny-random-ltx-video",
    note="the default video-extend model: the source's last 25 frames condition a 5 s "
    "continuation at the source's frame rate; the result is the source then the continuation",
)

_QWEN_EDIT_PLUS = CatalogueModel(
    name="Qwen/Qwen-Image-Edit-2509",
    pipelines={MULTI_IMAGE2IMAGE: "QwenImageEditPlusPipeline",
               OMNI_IMAGE: "QwenImageEditPlusPipeline"},
    sizes=("about 1024x1024 area, every Kling ratio",
           "omni-image 2k: about 2048x2048 area"), fps=None, frame_step=None,
    durations=(), audio=False, parameters=_QWEN_IMAGE_EDIT,
    test_model="tiny-random-qwen-image-edit-plus",
    note="the default multi-image2image and omni-image model: subject_image_list (1 to 4), "
    "scene_image and style_image, or omni-image's image_list (1 to 10), as its input "
    "pictures; without torchvision its processor is loaded for pictures only",
)

#: Every model the local provider serves, real weights first, then the built-in random ones.
CATALOGUE: tuple[CatalogueModel, ...] = (
    _WAN21,
    _TI2V,
    _SDXL,
    _STABLE_AUDIO,
    _VACE,
    _LTX_EXTEND,
    _QWEN_EDIT_PLUS,
    CatalogueModel(
        name="Wan-AI/Wan2.2-T2V-A14B-Diffusers", pipelines={TEXT2VIDEO: "WanPipeline"},
        sizes=_WAN_T2V_SIZES, fps=16, frame_step=4, durations=(5, 10), audio=False,
        parameters=_WAN22_A14B, test_model="tiny-random-wan2.2-a14b",
        note="two 14B experts (transformer_2, boundary 0.875); 40 steps, guidance 4.0; "
        "model 'auto' picks it where it fits (with model offload at most); else name it "
        "for a Kling model (e.g. kling-v2-1-master)",
        auto_rank=3,
    ),
    CatalogueModel(
        name="random-wan2.2-a14b", pipelines={TEXT2VIDEO: "WanPipeline"},
        sizes=_WAN_T2V_SIZES, fps=16, frame_step=4, durations=(5, 10), audio=False,
        parameters=_WAN22_A14B, test_model="tiny-random-wan2.2-a14b", built_in=True,
        note="Wan 2.2 A14B's architecture with random weights, built on the device: GPU "
        "benchmarks without the hub",
    ),
    CatalogueModel(
        name="random-ltx2", pipelines={TEXT2VIDEO: "LTX2Pipeline"},
        sizes=("832x480", "480x832"), fps=24, frame_step=8, durations=(5, 10), audio=True,
        parameters=_LTX2_19B, test_model="tiny-random-ltx2", built_in=True,
        note="LTX-2 19B's architecture (video with sound) with random weights, built on the "
        "device: GPU benchmarks without the hub; 1:1 maps to 624x624, which LTX-2 refuses "
        "(sides must be multiples of 32)",
    ),
    CatalogueModel(
        name="tiny-random-wan2.2-a14b", pipelines={TEXT2VIDEO: "WanPipeline"},
        sizes=("80x48",), fps=16, frame_step=4, durations=(5, 10), audio=False, parameters={},
        test_model="tiny-random-wan2.2-a14b", built_in=True,
        note="tiny random Wan 2.2 A14B form: two experts split at boundary 0.875",
    ),
    CatalogueModel(
        name="tiny-random-wan2.2-a14b-i2v", pipelines={IMAGE2VIDEO: "WanImageToVideoPipeline"},
        sizes=("80x48 area, the input image's shape",), fps=16, frame_step=4,
        durations=(5, 10), audio=False, parameters={},
        test_model="tiny-random-wan2.2-a14b-i2v", built_in=True,
        note="tiny random Wan 2.2 I2V A14B form: two experts split at boundary 0.9; the "
        "image2video model with tiny-random-wan2.2-a14b",
    ),
    CatalogueModel(
        name="hunyuanvideo-community/HunyuanVideo-1.5-480p_t2v",
        pipelines={TEXT2VIDEO: "HunyuanVideo15Pipeline"}, sizes=_HUNYUAN_SIZES, fps=24,
        frame_step=4, durations=(5, 10), audio=False, parameters=_HUNYUANVIDEO15_480P,
        test_model="tiny-random-hunyuanvideo15",
        note="HunyuanVideo 1.5 at 480p: 50 steps, guidance 6.0 through its guider; name it "
        "as the model (its image-to-video twin as image2video.model)",
    ),
    CatalogueModel(
        name="hunyuanvideo-community/HunyuanVideo-1.5-480p_i2v",
        pipelines={IMAGE2VIDEO: "HunyuanVideo15ImageToVideoPipeline"},
        sizes=("480p bucket of the input image's shape (848x480 for 16:9)",), fps=24,
        frame_step=4, durations=(5, 10), audio=False,
        # The text-to-video parts plus SigLIP so400m (patch 14, 384 px), which reads the
        # first frame; not counted from a build (no builder here): see docs/providers.md.
        parameters={**_HUNYUANVIDEO15_480P, "image_encoder": 428_225_600},
        test_model="tiny-random-hunyuanvideo15-i2v",
        note="HunyuanVideo 1.5 image-to-video (first frame only: no image_tail); name it as "
        "image2video.model",
    ),
    CatalogueModel(
        name="random-hunyuanvideo15", pipelines={TEXT2VIDEO: "HunyuanVideo15Pipeline"},
        sizes=_HUNYUAN_SIZES, fps=24, frame_step=4, durations=(5, 10), audio=False,
        parameters=_HUNYUANVIDEO15_480P, test_model="tiny-random-hunyuanvideo15",
        built_in=True,
        note="HunyuanVideo 1.5 480p's architecture with random weights, built on the device: "
        "GPU benchmarks without the hub",
    ),
    CatalogueModel(
        name="tiny-random-hunyuanvideo15", pipelines={TEXT2VIDEO: "HunyuanVideo15Pipeline"},
        sizes=("80x48", "48x80", "48x48"), fps=4, frame_step=4, durations=(5, 10),
        audio=False, parameters={}, test_model="tiny-random-hunyuanvideo15", built_in=True,
        note="tiny random HunyuanVideo 1.5 (guidance through its guider, no step callback: "
        "progress from its step bar); with it image2video gets "
        "tiny-random-hunyuanvideo15-i2v",
    ),
    CatalogueModel(
        name="tiny-random-hunyuanvideo15-i2v",
        pipelines={IMAGE2VIDEO: "HunyuanVideo15ImageToVideoPipeline"},
        sizes=("bucket of the input image's shape at target size 64 (80x48 for 16:9)",),
        fps=4, frame_step=4, durations=(5, 10), audio=False, parameters={},
        test_model="tiny-random-hunyuanvideo15-i2v", built_in=True,
        note="tiny random HunyuanVideo 1.5 image-to-video (a 1-layer SigLIP reads the frame)",
    ),
    CatalogueModel(
        name="black-forest-labs/FLUX.1-dev", pipelines={IMAGES: "FluxPipeline"},
        sizes=_FLUX_SIZES, fps=None, frame_step=None, durations=(), audio=False,
        parameters=_FLUX_1_DEV, test_model="tiny-random-flux",
        note="FLUX.1 [dev]: 28 steps, embedded guidance 3.5, no negative prompt (refused); "
        "reference image through FluxImg2ImgPipeline; gated on the hub; name it as "
        "images.model",
    ),
    CatalogueModel(
        name="black-forest-labs/FLUX.1-schnell", pipelines={IMAGES: "FluxPipeline"},
        sizes=_FLUX_SIZES, fps=None, frame_step=None, durations=(), audio=False,
        parameters=_FLUX_1_DEV, test_model="tiny-random-flux",
        note="FLUX.1 [schnell]: 4 steps, no guidance, no negative prompt (refused); name it "
        "as images.model",
    ),
    CatalogueModel(
        name="black-forest-labs/FLUX.2-dev", pipelines={IMAGES: "Flux2Pipeline"},
        sizes=_FLUX_SIZES, fps=None, frame_step=None, durations=(), audio=False,
        parameters=_FLUX_2_DEV, test_model="tiny-random-flux2",
        note="FLUX.2 [dev]: 50 steps, embedded guidance 4.0, no negative prompt and no "
        "reference image (both refused); gated on the hub; name it as images.model",
    ),
    CatalogueModel(
        name="tiny-random-flux2", pipelines={IMAGES: "Flux2Pipeline"},
        sizes=("1k: 64x64 area", "2k: 128x128 area"), fps=None, frame_step=None,
        durations=(), audio=False, parameters={}, test_model="tiny-random-flux2",
        built_in=True, note="tiny random FLUX.2 (a 30-layer tiny Mistral 3 text encoder); "
        "name it as images.model",
    ),
    CatalogueModel(
        name="random-flux.1-dev", pipelines={IMAGES: "FluxPipeline"}, sizes=_FLUX_SIZES,
        fps=None, frame_step=None, durations=(), audio=False, parameters=_FLUX_1_DEV,
        test_model="tiny-random-flux", built_in=True,
        note="FLUX.1-dev's architecture with random weights, built on the device: GPU "
        "benchmarks of images/generations without the hub (name it as images.model)",
    ),
    CatalogueModel(
        name="tiny-random-flux", pipelines={IMAGES: "FluxPipeline"},
        sizes=("1k: 64x64 area", "2k: 128x128 area"), fps=None, frame_step=None,
        durations=(), audio=False, parameters={}, test_model="tiny-random-flux",
        built_in=True, note="tiny random FLUX.1 (dev form: guidance embedded, no negative "
        "prompt); name it as images.model",
    ),
    CatalogueModel(
        name="random-wan2.1-1.3b", pipelines={TEXT2VIDEO: "WanPipeline"}, sizes=_WAN_T2V_SIZES,
        fps=16, frame_step=4, durations=(5, 10), audio=False, parameters=_WAN21_1_3B,
        test_model="tiny-random-wan", built_in=True,
        note="Wan 2.1 1.3B's architecture with random weights, built on the device: GPU "
        "benchmarks without the hub",
    ),
    CatalogueModel(
        name="random-wan2.1-vace-1.3b",
        pipelines={MULTI_IMAGE2VIDEO: "WanVACEPipeline", OMNI_VIDEO: "WanVACEPipeline",
                   MULTI_ELEMENTS: "WanVACEPipeline"},
        sizes=_WAN_T2V_SIZES, fps=16, frame_step=4, durations=(5, 10), audio=False,
        parameters=_WAN21_VACE_1_3B, test_model="tiny-random-wan-vace", built_in=True,
        note="Wan 2.1 VACE 1.3B's architecture with random weights, built on the device: GPU "
        "benchmarks of multi-image2video and omni-video without the hub (name it as "
        "multi_image2video.model or omni_video.model)",
    ),
    CatalogueModel(
        name="random-wan-small", pipelines={TEXT2VIDEO: "WanPipeline"}, sizes=("96x64",),
        fps=2, frame_step=4, durations=(5, 10), audio=False, parameters={},
        test_model="tiny-random-wan", built_in=True,
        note="random-wan2.1-1.3b scaled down: its CPU test path",
    ),
    CatalogueModel(
        name="tiny-random-wan", pipelines={TEXT2VIDEO: "WanPipeline"}, sizes=("80x48",),
        fps=16, frame_step=4, durations=(5, 10), audio=False, parameters={},
        test_model="tiny-random-wan", built_in=True,
        note="tiny random Wan 2.1 for tests and demos; with it the other families get "
        "tiny-random-wan-i2v, tiny-random-sdxl, tiny-random-stable-audio, "
        "tiny-random-qwen-image (images/editing/expand), tiny-random-wan-vace "
        "(videos/multi-image2video, videos/omni-video), tiny-random-ltx-video "
        "(videos/video-extend) and "
        "tiny-random-qwen-image-edit-plus (images/multi-image2image, images/omni-image)",
    ),
    CatalogueModel(
        name="tiny-random-wan-vace",
        pipelines={MULTI_IMAGE2VIDEO: "WanVACEPipeline", OMNI_VIDEO: "WanVACEPipeline",
                   MULTI_ELEMENTS: "WanVACEPipeline"},
        sizes=("80x48", "48x80", "48x48"), fps=16, frame_step=4, durations=(5, 10),
        audio=False, parameters={}, test_model="tiny-random-wan-vace", built_in=True,
        note="tiny random Wan VACE (reference images and first/end frames to video); the "
        "multi-image2video and omni-video model with every tiny text-to-video model",
    ),
    CatalogueModel(
        name="tiny-random-wan-i2v", pipelines={IMAGE2VIDEO: "WanImageToVideoPipeline"},
        sizes=("80x48 area, the input image's shape",), fps=16, frame_step=4,
        durations=(5, 10), audio=False, parameters={}, test_model="tiny-random-wan-i2v",
        built_in=True, note="tiny random Wan 2.2 TI2V image-to-video",
    ),
    CatalogueModel(
        name="tiny-random-ltx2", pipelines={TEXT2VIDEO: "LTX2Pipeline"},
        sizes=("64x32", "32x64", "32x32"), fps=2, frame_step=2, durations=(5, 10), audio=True,
        parameters={}, test_model="tiny-random-ltx2", built_in=True,
        note="tiny random LTX-2: video with a soundtrack (AAC), so sound \"on\" is honoured; "
        "with it image2video gets tiny-random-ltx2-i2v",
    ),
    CatalogueModel(
        name="tiny-random-ltx2-i2v", pipelines={IMAGE2VIDEO: "LTX2ImageToVideoPipeline"},
        sizes=("64x32 area, the input image's shape",), fps=2, frame_step=2, durations=(5, 10),
        audio=True, parameters={}, test_model="tiny-random-ltx2-i2v", built_in=True,
        note="tiny random LTX-2 image-to-video, with sound",
    ),
    CatalogueModel(
        name="tiny-random-qwen-image", pipelines={IMAGES: "QwenImagePipeline",
                                                  EXPAND: "QwenImageInpaintPipeline"},
        sizes=("1k: 128x128 area", "2k: 256x256 area", "expand: 64x64 area, resized to the "
               "canvas"), fps=None, frame_step=None,
        durations=(), audio=False, parameters={}, test_model="tiny-random-qwen-image",
        built_in=True, note="tiny random Qwen-Image (text to image; guidance as "
        "true_cfg_scale); name it as images.model; the outpainting model (images/editing/"
        "expand) with every tiny text-to-video model",
    ),
    CatalogueModel(
        name="tiny-random-qwen-image-edit-plus",
        pipelines={MULTI_IMAGE2IMAGE: "QwenImageEditPlusPipeline",
                   OMNI_IMAGE: "QwenImageEditPlusPipeline"},
        sizes=("64x64 area, every Kling ratio; inputs encoded at 64x64",
               "omni-image 2k: 128x128 area"), fps=None,
        frame_step=None, durations=(), audio=False, parameters={},
        test_model="tiny-random-qwen-image-edit-plus", built_in=True,
        note="tiny random Qwen-Image-Edit Plus (several pictures and an instruction); the "
        "multi-image2image and omni-image model with every tiny text-to-video model",
    ),
    CatalogueModel(
        name="tiny-random-stable-audio", pipelines={TEXT_TO_AUDIO: "StableAudioPipeline"},
        sizes=("16 kHz stereo, up to 10.24 s",), fps=None, frame_step=None, durations=(),
        audio=True, parameters={}, test_model="tiny-random-stable-audio", built_in=True,
        note="tiny random Stable Audio Open (text to audio) for tests and demos; the audio "
        "model with every tiny text-to-video model",
    ),
    CatalogueModel(
        name="tiny-random-ltx-video", pipelines={VIDEO_EXTEND: "LTXConditionPipeline"},
        sizes=("64x32 area, the source video's shape; resized to the source's size",),
        fps=None, frame_step=8, durations=(), audio=False, parameters={},
        test_model="tiny-random-ltx-video", built_in=True,
        note="tiny random LTX-Video (condition pipeline, 8x time and space): the "
        "video-extend model with every tiny text-to-video model",
    ),
    CatalogueModel(
        name="tiny-random-sdxl", pipelines={IMAGES: "StableDiffusionXLPipeline"},
        sizes=("1k: 128x128 area", "2k: 256x256 area"), fps=None, frame_step=None,
        durations=(), audio=False, parameters={}, test_model="tiny-random-sdxl",
        built_in=True, note="tiny random SDXL",
    ),
)

BY_NAME: dict[str, CatalogueModel] = {model.name: model for model in CATALOGUE}


def find(name: str) -> CatalogueModel | None:
    return BY_NAME.get(name)


def makes_audio(model: str) -> bool:
    """Whether `model` renders a soundtrack with its video (what `sound: "on"` needs; a
    sound-only model such as Stable Audio makes no video)."""
    entry = BY_NAME.get(model)
    return entry is not None and entry.audio and bool(
        {TEXT2VIDEO, IMAGE2VIDEO} & set(entry.pipelines))


def offload_for(model: str, gpu_bytes: int | None, quantization: str = "none") -> str:
    """The `cpu_offload` that `auto` picks for `model` on a GPU of `gpu_bytes` (None: no GPU),
    its transformers quantized as `quantization` says.

    The rule (docs/providers.md): no GPU, or a model not in the catalogue: 'none' (today's
    behaviour); the weights fit in 85 % of the GPU's memory (the rest left to activations):
    'none'; the largest component fits: 'model'; else 'sequential'.
    """
    entry = BY_NAME.get(model)
    if gpu_bytes is None or entry is None or not entry.parameters:
        return "none"
    budget = MEMORY_BUDGET * gpu_bytes
    if entry.memory_bytes(offload=False, quantization=quantization) <= budget:
        return "none"
    if entry.memory_bytes(offload=True, quantization=quantization) <= budget:
        return "model"
    return "sequential"


#: The fallback of `model = "auto"`: no GPU, or none of the ranked models fits.
AUTO_FALLBACK = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
#: Share of the GPU's memory the weights may take (the rest is left to activations).
MEMORY_BUDGET = 0.85


def auto_model(gpu_bytes: int | None, quantization: str = "none") -> str:
    """The text-to-video model `model = "auto"` picks for a GPU of `gpu_bytes` (None: no GPU),
    its transformers quantized as `quantization` says (smaller weights: a larger model fits).

    The rule (docs/providers.md): the best-ranked catalogue model (`auto_rank`) whose weights
    fit in 85 % of the GPU's memory either whole or with model offload (its largest
    component: what `cpu_offload = "auto"` then picks); sequential offload does not count
    as fitting (too slow to choose by default). No GPU, or nothing fits: AUTO_FALLBACK.
    """
    if gpu_bytes is None:
        return AUTO_FALLBACK
    budget = MEMORY_BUDGET * gpu_bytes
    fitting = [entry for entry in CATALOGUE if entry.auto_rank > 0 and entry.parameters
               and entry.memory_bytes(offload=True, quantization=quantization) <= budget]
    if not fitting:
        return AUTO_FALLBACK
    return max(fitting, key=lambda entry: entry.auto_rank).name


def _family_models(options: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Family -> (model, pipeline option) that provider options load for it."""
    from openkling.providers.diffusers.extend import extend_options
    from openkling.providers.diffusers.families import (
        audio_options,
        expand_options,
        image2video_options,
        image_options,
        multi_image2image_options,
        multi_image_options,
    )
    from openkling.providers.diffusers.model_options import parse_options
    from openkling.providers.diffusers.multi_elements import multi_elements_options
    from openkling.providers.diffusers.omni_image import omni_image_options
    from openkling.providers.diffusers.omni_video import omni_video_options

    parsed = parse_options(options)
    i2v = image2video_options(parsed.image2video, parsed.is_tiny, parsed.model)
    images = image_options(parsed.images, parsed.is_tiny)
    audio = audio_options(parsed.audio, parsed.is_tiny)
    expand = expand_options(parsed.expand, parsed.is_tiny)
    vace = multi_image_options(parsed.multi_image2video, parsed.is_tiny)
    omni_video = omni_video_options(parsed.omni_video, parsed.is_tiny)
    extend = extend_options(parsed.extend, parsed.is_tiny)
    edit = multi_image2image_options(parsed.multi_image2image, parsed.is_tiny)
    omni_image = omni_image_options(parsed.omni_image, parsed.is_tiny)
    inpaint = multi_elements_options(parsed.multi_elements, parsed.is_tiny)
    return {TEXT2VIDEO: (parsed.model, parsed.pipeline), IMAGE2VIDEO: (i2v.model, i2v.pipeline),
            IMAGES: (images.model, images.pipeline), TEXT_TO_AUDIO: (audio.model, audio.pipeline),
            EXPAND: (expand.model, expand.pipeline),
            MULTI_IMAGE2VIDEO: (vace.model, vace.pipeline),
            OMNI_VIDEO: (omni_video.model, omni_video.pipeline),
            VIDEO_EXTEND: (extend.model, extend.pipeline),
            MULTI_IMAGE2IMAGE: (edit.model, edit.pipeline),
            OMNI_IMAGE: (omni_image.model, omni_image.pipeline),
            MULTI_ELEMENTS: (inpaint.model, inpaint.pipeline)}


def listing(base: dict[str, Any], routes: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The catalogue as this configuration serves it.

    `base` is `provider_options.diffusers`; `routes` maps each Kling model name routed to the
    local provider to its route's options (which may name another `model`). Each catalogue
    model gets `kling_models` (family -> the Kling names that run on it) and `served`; a
    configured model the catalogue does not know (a hub id or folder) is listed too, with
    what the configuration says of it.
    """
    served: dict[str, dict[str, list[str]]] = {}
    pipelines: dict[str, dict[str, str]] = {}
    for name, overrides in sorted(routes.items()):
        for family, (model, pipeline) in _family_models({**base, **overrides}).items():
            spec = FAMILIES[family]
            if name in spec.models or name == spec.default_model:
                served.setdefault(model, {}).setdefault(family, []).append(name)
                pipelines.setdefault(model, {})[family] = pipeline
    rows = []
    for entry in CATALOGUE:
        rows.append({**entry.describe(), "served": entry.name in served,
                     "kling_models": served.get(entry.name, {})})
    for model, by_family in served.items():
        if model in BY_NAME:
            continue
        rows.append({
            "name": model, "pipeline": ", ".join(dict.fromkeys(pipelines[model].values())),
            "pipelines": pipelines[model], "families": list(by_family), "sizes": [],
            "fps": None, "frame_step": None, "durations": [], "audio": False,
            "parameters": None, "memory_gib": None, "memory_offload_gib": None,
            "memory_measured": False, "memory_note": "not in the catalogue", "test_model": None,
            "built_in": False, "note": "configured, not in the catalogue", "served": True,
            "kling_models": by_family,
        })
    return rows
