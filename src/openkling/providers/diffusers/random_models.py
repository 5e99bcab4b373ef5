"""Pipelines at a published size, with random weights, built in memory on the device.

Wan 2.1 and 2.2, LTX-2 19B (`random-ltx2`, video with sound; see LTX2_19B), HunyuanVideo 1.5
(`random-hunyuanvideo15`) and FLUX.1-dev (`random-flux.1-dev`, an images model); the sections
below say which.

`random-wan2.1-vace-1.3b` is Wan-AI/Wan2.1-VACE-1.3B-diffusers' (videos/multi-image2video).
`random-wan2.1-1.3b` has exactly the architecture of Wan-AI/Wan2.1-T2V-1.3B-Diffusers (a
1.3B-parameter transformer, the UMT5-XXL text encoder, the Wan VAE and its UniPC flow
scheduler), so a generation costs the same compute and memory as with the real weights: it
lets a machine that cannot reach the model hub measure speed honestly. `random-wan-small` is
the same structure scaled down, so the same code path runs on a CPU in seconds. Both make
NOISE. They are built straight on the target device in the target dtype (no save/load: the
full-size text encoder alone is 11 GB in bfloat16). Imports torch: model process and tests
only.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from openkling.providers.diffusers.model_options import (
    RANDOM_FLUX_1_DEV,
    RANDOM_HUNYUANVIDEO15,
    RANDOM_LTX2,
    RANDOM_WAN21_VACE_1_3B,
    RANDOM_WAN22_A14B,
    RANDOM_WAN_1_3B,
    RANDOM_WAN_SMALL,
)
from openkling.providers.diffusers.tiny import build_clip_tokenizers, build_tokenizer

diffusers: Any = importlib.import_module("diffusers")
transformers: Any = importlib.import_module("transformers")


@contextmanager
def _allocating(device: torch.device | str, dtype: torch.dtype) -> Iterator[None]:
    """New modules' weights made on `device` in `dtype` (on 'meta', none are made)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            yield
    finally:
        torch.set_default_dtype(previous)


@dataclass(frozen=True)
class WanArchitecture:
    """The numbers that fix a Wan 2.1 text-to-video pipeline's compute and memory."""

    # Transformer (WanTransformer3DModel).
    num_layers: int
    num_attention_heads: int
    attention_head_dim: int
    ffn_dim: int
    freq_dim: int
    # Text encoder (UMT5 encoder); its d_model is the transformer's text_dim.
    text_vocab_size: int
    text_d_model: int
    text_d_ff: int
    text_d_kv: int
    text_num_heads: int
    text_num_layers: int
    text_buckets: int
    text_max_distance: int
    # VAE (AutoencoderKLWan).
    vae_base_dim: int
    vae_dim_mult: tuple[int, ...]
    vae_num_res_blocks: int
    # Scheduler.
    flow_shift: float = 3.0
    # Wan 2.2's VAE (16x spatial, 48 latent channels, 2x2 pixel patches) where set.
    latent_channels: int = 16
    vae_decoder_base_dim: int | None = None
    vae_patch_size: int | None = None
    # Wan 2.2 A14B's two experts: `transformer` denoises while t >= boundary_ratio * 1000
    # (high noise), `transformer_2` (same architecture) the rest.
    boundary_ratio: float | None = None
    # Wan VACE: the transformer layers that take a VACE block (reference images and control
    # video), where set; the pipeline is then WanVACEPipeline.
    vace_layers: tuple[int, ...] | None = None


#: Wan-AI/Wan2.1-T2V-1.3B-Diffusers as published: transformer dim 1536 (12 heads x 128),
#: ffn 8960, 30 layers, freq_dim 256; text encoder google/umt5-xxl (d_model 4096, d_ff 10240,
#: 64 heads of 64, 24 layers, 256384-token vocabulary); the Wan 2.1 VAE (base 96, multipliers
#: 1,2,4,4, two residual blocks); UniPC with flow_shift 3.0 at 480p.
WAN21_T2V_1_3B = WanArchitecture(
    num_layers=30, num_attention_heads=12, attention_head_dim=128, ffn_dim=8960, freq_dim=256,
    text_vocab_size=256384, text_d_model=4096, text_d_ff=10240, text_d_kv=64,
    text_num_heads=64, text_num_layers=24, text_buckets=32, text_max_distance=128,
    vae_base_dim=96, vae_dim_mult=(1, 2, 4, 4), vae_num_res_blocks=2,
)

#: The same structure scaled down (every component present, a few MB): the CPU test path.
WAN_SMALL = WanArchitecture(
    num_layers=2, num_attention_heads=2, attention_head_dim=16, ffn_dim=64, freq_dim=32,
    text_vocab_size=384, text_d_model=64, text_d_ff=128, text_d_kv=16, text_num_heads=4,
    text_num_layers=2, text_buckets=8, text_max_distance=32,
    vae_base_dim=8, vae_dim_mult=(1, 1, 1, 1), vae_num_res_blocks=1,
)

#: Wan-AI/Wan2.2-TI2V-5B-Diffusers: transformer dim 3072 (24 heads x 128), ffn 14336, 30
#: layers, 48 latent channels in and out; the same UMT5-XXL encoder; the Wan 2.2 VAE (encoder
#: base 160, decoder base 256, 48 latent channels, 2x2 patches: 16x spatial, 4x temporal);
#: UniPC with flow_shift 5.0. See docs/benchmarks.md for which values are confirmed.
WAN22_TI2V_5B = WanArchitecture(
    num_layers=30, num_attention_heads=24, attention_head_dim=128, ffn_dim=14336, freq_dim=256,
    text_vocab_size=256384, text_d_model=4096, text_d_ff=10240, text_d_kv=64,
    text_num_heads=64, text_num_layers=24, text_buckets=32, text_max_distance=128,
    vae_base_dim=160, vae_dim_mult=(1, 2, 4, 4), vae_num_res_blocks=2, flow_shift=5.0,
    latent_channels=48, vae_decoder_base_dim=256, vae_patch_size=2,
)

#: TI2V 5B's structure scaled down (the Wan 2.2 VAE path included): the CPU test path.
WAN22_SMALL = WanArchitecture(
    num_layers=2, num_attention_heads=2, attention_head_dim=16, ffn_dim=64, freq_dim=32,
    text_vocab_size=384, text_d_model=64, text_d_ff=128, text_d_kv=16, text_num_heads=4,
    text_num_layers=2, text_buckets=8, text_max_distance=32,
    vae_base_dim=8, vae_dim_mult=(1, 1, 1, 1), vae_num_res_blocks=1, flow_shift=5.0,
    latent_channels=48, vae_decoder_base_dim=8, vae_patch_size=2,
)

#: Wan-AI/Wan2.2-T2V-A14B-Diffusers: two experts, each Wan 2.1 14B's transformer (dim 5120 =
#: 40 heads x 128, ffn 13824, 40 layers, freq_dim 256), the UMT5-XXL encoder and the Wan 2.1
#: VAE; boundary 0.875, flow_shift 12.0 (the published T2V settings).
WAN22_T2V_A14B = WanArchitecture(
    num_layers=40, num_attention_heads=40, attention_head_dim=128, ffn_dim=13824, freq_dim=256,
    text_vocab_size=256384, text_d_model=4096, text_d_ff=10240, text_d_kv=64,
    text_num_heads=64, text_num_layers=24, text_buckets=32, text_max_distance=128,
    vae_base_dim=96, vae_dim_mult=(1, 2, 4, 4), vae_num_res_blocks=2, flow_shift=12.0,
    boundary_ratio=0.875,
)

#: Wan-AI/Wan2.1-VACE-1.3B-diffusers: Wan 2.1 T2V 1.3B's transformer with a VACE block at
#: every second layer (0, 2, ..., 28) taking 96 control channels (16 + 16 latents and the
#: 8x8 mask), the same text encoder, VAE and scheduler.
WAN21_VACE_1_3B = WanArchitecture(
    num_layers=30, num_attention_heads=12, attention_head_dim=128, ffn_dim=8960, freq_dim=256,
    text_vocab_size=256384, text_d_model=4096, text_d_ff=10240, text_d_kv=64,
    text_num_heads=64, text_num_layers=24, text_buckets=32, text_max_distance=128,
    vae_base_dim=96, vae_dim_mult=(1, 2, 4, 4), vae_num_res_blocks=2,
    vace_layers=tuple(range(0, 30, 2)),
)

ARCHITECTURES: dict[str, WanArchitecture] = {
    RANDOM_WAN_1_3B: WAN21_T2V_1_3B,
    RANDOM_WAN21_VACE_1_3B: WAN21_VACE_1_3B,
    RANDOM_WAN_SMALL: WAN_SMALL,
    RANDOM_WAN22_A14B: WAN22_T2V_A14B,
}


def build_random_wan(arch: WanArchitecture, device: torch.device | str = "cpu",
                     dtype: torch.dtype = torch.float32, seed: int = 0) -> Any:
    """A WanPipeline of `arch` with deterministic random weights, allocated on `device`.

    The tokenizer is byte-level (the real SentencePiece vocabulary cannot be downloaded);
    the pipeline pads every prompt to max_sequence_length, so the encoder's work is the same.
    The 'meta' device builds without memory, for counting parameters.
    """
    torch.manual_seed(seed)
    with _allocating(device, dtype):
        text_encoder = transformers.UMT5EncoderModel(transformers.UMT5Config(
            vocab_size=arch.text_vocab_size, d_model=arch.text_d_model,
            d_ff=arch.text_d_ff, d_kv=arch.text_d_kv, num_heads=arch.text_num_heads,
            num_layers=arch.text_num_layers,
            relative_attention_num_buckets=arch.text_buckets,
            relative_attention_max_distance=arch.text_max_distance,
            feed_forward_proj="gated-gelu", dropout_rate=0.0,
        ))
        experts = [_wan_transformer(arch)
                   for _ in range(1 if arch.boundary_ratio is None else 2)]
        vae = diffusers.AutoencoderKLWan(**vae_config(arch))
    scheduler = diffusers.UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000,
        flow_shift=arch.flow_shift,
    )
    two = {} if arch.boundary_ratio is None else {"transformer_2": experts[1],
                                                  "boundary_ratio": arch.boundary_ratio}
    cls = diffusers.WanPipeline if arch.vace_layers is None else diffusers.WanVACEPipeline
    return cls(tokenizer=build_tokenizer(), text_encoder=text_encoder,
                                 vae=vae, transformer=experts[0], scheduler=scheduler, **two)


def _wan_transformer(arch: WanArchitecture) -> Any:
    config: dict[str, Any] = {
        "patch_size": (1, 2, 2), "num_attention_heads": arch.num_attention_heads,
        "attention_head_dim": arch.attention_head_dim, "in_channels": arch.latent_channels,
        "out_channels": arch.latent_channels, "text_dim": arch.text_d_model,
        "freq_dim": arch.freq_dim, "ffn_dim": arch.ffn_dim, "num_layers": arch.num_layers,
        "cross_attn_norm": True, "qk_norm": "rms_norm_across_heads", "eps": 1e-6,
        "rope_max_seq_len": 1024,
    }
    if arch.vace_layers is None:
        return diffusers.WanTransformer3DModel(**config)
    # The control input: inactive and reactive latents, and the 8x8 mask.
    return diffusers.WanVACETransformer3DModel(
        **config, vace_layers=list(arch.vace_layers),
        vace_in_channels=2 * arch.latent_channels + 64)


def vae_config(arch: WanArchitecture) -> dict[str, Any]:
    """AutoencoderKLWan arguments: Wan 2.1's VAE, or Wan 2.2's when `vae_patch_size` is set."""
    config: dict[str, Any] = {
        "base_dim": arch.vae_base_dim, "z_dim": arch.latent_channels,
        "dim_mult": list(arch.vae_dim_mult), "num_res_blocks": arch.vae_num_res_blocks,
        "temperal_downsample": [False, True, True],
    }
    if arch.vae_patch_size is not None:
        # Random weights: a unit latent normalisation stands in for the published statistics.
        config.update(
            decoder_base_dim=arch.vae_decoder_base_dim, is_residual=True, in_channels=12,
            out_channels=12, patch_size=arch.vae_patch_size, scale_factor_spatial=16,
            scale_factor_temporal=4, latents_mean=[0.0] * arch.latent_channels,
            latents_std=[1.0] * arch.latent_channels,
        )
    return config


def build_random_wan_i2v(arch: WanArchitecture, device: torch.device | str = "cpu",
                         dtype: torch.dtype = torch.float32, seed: int = 0) -> Any:
    """Wan 2.2 TI2V's image-to-video pipeline (the class openkling's image2video loads).

    TI2V has no CLIP image encoder: the first frame's latents replace frame one's noise
    (`expand_timesteps`), so the transformer is the text-to-video one.
    """
    base = build_random_wan(arch, device, dtype, seed)
    return diffusers.WanImageToVideoPipeline(
        tokenizer=base.tokenizer, text_encoder=base.text_encoder, vae=base.vae,
        transformer=base.transformer, scheduler=base.scheduler, image_encoder=None,
        image_processor=None, expand_timesteps=True,
    )


@dataclass(frozen=True)
class ClipTextArchitecture:
    """One CLIP text encoder of Stable Diffusion XL."""

    hidden_size: int
    intermediate_size: int
    num_heads: int
    num_layers: int
    projection_dim: int
    hidden_act: str


@dataclass(frozen=True)
class SdxlArchitecture:
    """The numbers that fix a Stable Diffusion XL pipeline's compute and memory."""

    unet_channels: tuple[int, ...]
    unet_head_dims: tuple[int, ...]
    unet_transformer_layers: tuple[int, ...]
    unet_layers_per_block: int
    unet_time_embed_dim: int
    norm_groups: int
    text_encoder: ClipTextArchitecture
    text_encoder_2: ClipTextArchitecture
    vae_channels: tuple[int, ...]
    vae_norm_groups: int = 32
    text_vocab_size: int = 49408


#: stabilityai/stable-diffusion-xl-base-1.0 as published: UNet channels 320/640/1280 with
#: 1/2/10 transformer layers (head dims 5/10/20), cross-attention 2048 (768 + 1280), time
#: ids embedded in 256 dims; CLIP ViT-L/14 text (768 wide, 12 layers, quick_gelu) and
#: OpenCLIP ViT-bigG/14 text (1280 wide, 32 layers, gelu, projection 1280); the SD VAE
#: (128/256/512/512).
SDXL_BASE_1_0 = SdxlArchitecture(
    unet_channels=(320, 640, 1280), unet_head_dims=(5, 10, 20),
    unet_transformer_layers=(1, 2, 10), unet_layers_per_block=2, unet_time_embed_dim=256,
    norm_groups=32,
    text_encoder=ClipTextArchitecture(768, 3072, 12, 12, 768, "quick_gelu"),
    text_encoder_2=ClipTextArchitecture(1280, 5120, 20, 32, 1280, "gelu"),
    vae_channels=(128, 256, 512, 512),
)

#: The same structure scaled down: the CPU test path.
SDXL_SMALL = SdxlArchitecture(
    unet_channels=(16, 32, 32), unet_head_dims=(2, 4, 4), unet_transformer_layers=(1, 1, 1),
    unet_layers_per_block=1, unet_time_embed_dim=8, norm_groups=8,
    text_encoder=ClipTextArchitecture(32, 37, 4, 2, 32, "quick_gelu"),
    text_encoder_2=ClipTextArchitecture(32, 37, 4, 2, 32, "gelu"),
    vae_channels=(8, 16), vae_norm_groups=8, text_vocab_size=384,
)


def _clip_config(clip: ClipTextArchitecture, vocab_size: int) -> Any:
    # Ids as the byte-level tokenizer numbers them (pad 0, end of sequence 1).
    return transformers.CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=clip.hidden_size,
        intermediate_size=clip.intermediate_size, num_attention_heads=clip.num_heads,
        num_hidden_layers=clip.num_layers, projection_dim=clip.projection_dim,
        hidden_act=clip.hidden_act, max_position_embeddings=77, pad_token_id=0,
        bos_token_id=1, eos_token_id=1,
    )


def build_random_sdxl(arch: SdxlArchitecture, device: torch.device | str = "cpu",
                      dtype: torch.dtype = torch.float32, seed: int = 0) -> Any:
    """A StableDiffusionXLPipeline of `arch` with random weights, allocated on `device`."""
    torch.manual_seed(seed)
    tokenizers = build_clip_tokenizers()
    depth = len(arch.unet_channels)
    cross_dim = arch.text_encoder.hidden_size + arch.text_encoder_2.hidden_size
    with _allocating(device, dtype):
        text_encoder = transformers.CLIPTextModel(
            _clip_config(arch.text_encoder, arch.text_vocab_size))
        text_encoder_2 = transformers.CLIPTextModelWithProjection(
            _clip_config(arch.text_encoder_2, arch.text_vocab_size))
        unet = diffusers.UNet2DConditionModel(
            sample_size=128, in_channels=4, out_channels=4,
            block_out_channels=arch.unet_channels,
            layers_per_block=arch.unet_layers_per_block,
            down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (depth - 1),
            up_block_types=("CrossAttnUpBlock2D",) * (depth - 1) + ("UpBlock2D",),
            attention_head_dim=arch.unet_head_dims,
            transformer_layers_per_block=arch.unet_transformer_layers,
            use_linear_projection=True, addition_embed_type="text_time",
            addition_time_embed_dim=arch.unet_time_embed_dim,
            # Six size/crop ids embedded, plus the second encoder's pooled projection.
            projection_class_embeddings_input_dim=(
                6 * arch.unet_time_embed_dim + arch.text_encoder_2.projection_dim),
            cross_attention_dim=cross_dim, norm_num_groups=arch.norm_groups,
        )
        blocks = len(arch.vae_channels)
        vae = diffusers.AutoencoderKL(
            in_channels=3, out_channels=3, latent_channels=4, sample_size=1024,
            block_out_channels=arch.vae_channels, layers_per_block=2,
            norm_num_groups=arch.vae_norm_groups,
            down_block_types=("DownEncoderBlock2D",) * blocks,
            up_block_types=("UpDecoderBlock2D",) * blocks, scaling_factor=0.13025,
        )
    scheduler = diffusers.EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        timestep_spacing="leading", steps_offset=1,
    )
    return diffusers.StableDiffusionXLPipeline(
        vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2,
        tokenizer=tokenizers[0], tokenizer_2=tokenizers[1], unet=unet, scheduler=scheduler,
    )


#: stabilityai/stable-audio-open-1.0 as its published configs give it: the DiT, T5-base's
#: encoder, the seconds/text projection and the Oobleck VAE (44.1 kHz stereo, 2048x).
STABLE_AUDIO_OPEN_1_0: dict[str, dict[str, Any]] = {
    "transformer": {"sample_size": 1024, "in_channels": 64, "num_layers": 24,
                    "attention_head_dim": 64, "num_attention_heads": 24,
                    "num_key_value_attention_heads": 12, "out_channels": 64,
                    "cross_attention_dim": 768, "time_proj_dim": 256,
                    "global_states_input_dim": 1536, "cross_attention_input_dim": 768},
    "text_encoder": {"vocab_size": 32128, "d_model": 768, "d_kv": 64, "d_ff": 3072,
                     "num_layers": 12, "num_heads": 12, "relative_attention_num_buckets": 32,
                     "feed_forward_proj": "relu"},
    "projection_model": {"text_encoder_dim": 768, "conditioning_dim": 768, "min_value": 0,
                         "max_value": 512},
    "vae": {"encoder_hidden_size": 128, "downsampling_ratios": [2, 4, 4, 8, 8],
            "decoder_channels": 128, "decoder_input_channels": 64, "audio_channels": 2,
            "channel_multiples": [1, 2, 4, 8, 16], "sampling_rate": 44100},
}


def build_random_stable_audio(device: torch.device | str = "cpu",
                              dtype: torch.dtype = torch.float32, seed: int = 0) -> Any:
    """Stable Audio Open 1.0's architecture with random weights (a 'meta' build counts the
    catalogue's parameters)."""
    stable_audio: Any = importlib.import_module("diffusers.pipelines.stable_audio")
    arch = STABLE_AUDIO_OPEN_1_0
    torch.manual_seed(seed)
    with _allocating(device, dtype):
        parts = {
            "transformer": diffusers.StableAudioDiTModel(**arch["transformer"]),
            "text_encoder": transformers.T5EncoderModel(
                transformers.T5Config(**arch["text_encoder"])),
            "projection_model": stable_audio.StableAudioProjectionModel(
                **arch["projection_model"]),
            "vae": diffusers.AutoencoderOobleck(**arch["vae"]),
        }
    scheduler = diffusers.EDMDPMSolverMultistepScheduler(
        solver_order=2, prediction_type="v_prediction", sigma_data=1.0,
        sigma_schedule="exponential")
    tokenizer = build_tokenizer()
    # StableAudioPipeline pads every prompt to this; the published T5 tokenizer's is 128.
    tokenizer.model_max_length = 128
    return diffusers.StableAudioPipeline(tokenizer=tokenizer, scheduler=scheduler, **parts)


#: Qwen/Qwen-Image-Edit-2509's text encoder as published: Qwen2.5-VL-7B-Instruct (text 3584
#: wide, 28 layers, 28 heads with 4 key/value heads, ffn 18944, 152064 tokens; vision tower
#: 32 blocks 1280 wide, 14 px patches merged 2x2, projected to 3584).
QWEN25_VL_7B: dict[str, Any] = {
    "text_config": {"vocab_size": 152064, "hidden_size": 3584, "intermediate_size": 18944,
                    "num_hidden_layers": 28, "num_attention_heads": 28,
                    "num_key_value_heads": 4,
                    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}},
    "vision_config": {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420,
                      "num_heads": 16, "out_hidden_size": 3584, "patch_size": 14,
                      "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 112,
                      "fullatt_block_indexes": [7, 15, 23, 31]},
    "vocab_size": 152064, "hidden_size": 3584, "tie_word_embeddings": False,
}


def build_qwen_image_edit_plus_parts(device: torch.device | str = "cpu",
                                     dtype: torch.dtype = torch.float32,
                                     seed: int = 0) -> dict[str, Any]:
    """Qwen-Image-Edit-2509's three weighted components at their published size with random
    weights (diffusers' QwenImageTransformer2DModel and AutoencoderKLQwenImage defaults are
    Qwen-Image's); a 'meta' build counts the catalogue's parameters."""
    torch.manual_seed(seed)
    with _allocating(device, dtype):
        return {
            "transformer": diffusers.QwenImageTransformer2DModel(),
            "text_encoder": transformers.Qwen2_5_VLForConditionalGeneration(
                transformers.Qwen2_5_VLConfig(**QWEN25_VL_7B)),
            "vae": diffusers.AutoencoderKLQwenImage(),
        }


def parameter_counts(pipe: Any) -> dict[str, int]:
    """Parameters per component (works on a 'meta' build)."""
    names = [name for name in ("transformer", "transformer_2", "unet", "text_encoder",
                               "text_encoder_2", "projection_model", "image_encoder",
                               "connectors", "vae", "audio_vae", "vocoder")
             if getattr(pipe, name, None) is not None]
    return {name: sum(p.numel() for p in getattr(pipe, name).parameters()) for name in names}


#: Lightricks/LTX-Video-0.9.5 (the video-extend model), as its diffusers configuration has it
#: to the best of this project's knowledge (the hub is unreachable here, so it was not
#: compared with the checkpoint's config.json): the 2B transformer (28 layers, 32 heads x 64,
#: 128 latent channels), the T5 v1.1 XXL encoder and the 0.9.5 VAE (32x space, 8x time).
LTX_VIDEO_0_9_5: dict[str, dict[str, Any]] = {
    "transformer": {"in_channels": 128, "out_channels": 128, "patch_size": 1,
                    "patch_size_t": 1, "num_attention_heads": 32, "attention_head_dim": 64,
                    "cross_attention_dim": 2048, "num_layers": 28, "caption_channels": 4096},
    "text_encoder": {"vocab_size": 32128, "d_model": 4096, "d_kv": 64, "d_ff": 10240,
                     "num_layers": 24, "num_heads": 64, "feed_forward_proj": "gated-gelu",
                     "is_encoder_decoder": False},
    "vae": {"in_channels": 3, "out_channels": 3, "latent_channels": 128,
            "block_out_channels": (128, 256, 512, 512),
            "decoder_block_out_channels": (256, 512, 1024),
            "layers_per_block": (4, 6, 6, 2, 2), "decoder_layers_per_block": (5, 5, 5, 5),
            "spatio_temporal_scaling": (True, True, True, True),
            "decoder_spatio_temporal_scaling": (True, True, True),
            "decoder_inject_noise": (False, False, False, False),
            "downsample_type": ("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
            "upsample_residual": (True, True, True), "upsample_factor": (2, 2, 2),
            "timestep_conditioning": True, "patch_size": 4, "patch_size_t": 1,
            "encoder_causal": True, "decoder_causal": False},
}


def build_random_ltx_video(device: torch.device | str = "cpu",
                           dtype: torch.dtype = torch.float32, seed: int = 0) -> Any:
    """LTX-Video 0.9.5's architecture in its condition pipeline with random weights (a
    'meta' build counts the catalogue's parameters)."""
    arch = LTX_VIDEO_0_9_5
    torch.manual_seed(seed)
    with _allocating(device, dtype):
        parts = {
            "transformer": diffusers.LTXVideoTransformer3DModel(**arch["transformer"]),
            "text_encoder": transformers.T5EncoderModel(
                transformers.T5Config(**arch["text_encoder"])),
            "vae": diffusers.AutoencoderKLLTXVideo(**arch["vae"]),
        }
    return diffusers.LTXConditionPipeline(
        tokenizer=build_tokenizer(), scheduler=diffusers.FlowMatchEulerDiscreteScheduler(),
        **parts)


#: HunyuanVideo 1.5 (hunyuanvideo-community/HunyuanVideo-1.5-480p_t2v) as diffusers 0.42
#: declares it (its classes' defaults; not compared with the hub's config.json, which is out
#: of reach here): the 8.3B transformer (54 layers, 16 heads x 128, 32 latent channels in
#: and out plus the 32 + 1 condition channels), Qwen2.5-VL-7B's text model, ByT5-small's
#: encoder (quoted text in the prompt) and the HunyuanVideo 1.5 VAE (16x space, 4x time);
#: flow shift 5.0 and guidance 6.0 (the 480p settings).
HUNYUANVIDEO15_480P: dict[str, dict[str, Any]] = {
    "transformer": {"task_type": "t2v"},
    "text_encoder": QWEN25_VL_7B["text_config"],
    "text_encoder_2": {"vocab_size": 384, "d_model": 1472, "d_kv": 64, "d_ff": 3584,
                       "num_layers": 12, "num_heads": 6, "feed_forward_proj": "gated-gelu",
                       "is_encoder_decoder": False},
    "vae": {},
}


def build_random_hunyuanvideo15(device: torch.device | str = "cpu",
                                dtype: torch.dtype = torch.float32, seed: int = 0) -> Any:
    """HunyuanVideo 1.5's text-to-video pipeline at its published size with random weights.

    The tokenizers are byte-level (the chat template the pipeline renders the prompt with is
    a plain one); the pipeline pads every prompt to 1000 + 108 tokens, so the encoder's work
    is the same. A 'meta' build counts the catalogue's parameters.
    """
    from openkling.providers.diffusers.tiny import CHAT_TEMPLATE

    arch = HUNYUANVIDEO15_480P
    torch.manual_seed(seed)
    with _allocating(device, dtype):
        parts = {
            "transformer": diffusers.HunyuanVideo15Transformer3DModel(
                **arch["transformer"]),
            "text_encoder": transformers.Qwen2_5_VLTextModel(
                transformers.Qwen2_5_VLTextConfig(**arch["text_encoder"])),
            "text_encoder_2": transformers.T5EncoderModel(
                transformers.T5Config(**arch["text_encoder_2"])),
            "vae": diffusers.AutoencoderKLHunyuanVideo15(**arch["vae"]),
        }
    tokenizer = build_tokenizer()
    tokenizer.chat_template = CHAT_TEMPLATE
    return diffusers.HunyuanVideo15Pipeline(
        tokenizer=tokenizer, tokenizer_2=build_tokenizer(),
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(shift=5.0),
        guider=diffusers.ClassifierFreeGuidance(guidance_scale=6.0), **parts)


#: black-forest-labs/FLUX.1-dev as diffusers declares it (not compared with the hub's
#: config.json): the 12B transformer (19 double and 38 single blocks, 24 heads x 128,
#: guidance embedded), CLIP ViT-L/14's text encoder (pooled), the T5 v1.1 XXL encoder and
#: the 16-channel FLUX VAE (8x).
FLUX_1_DEV: dict[str, dict[str, Any]] = {
    "transformer": {"patch_size": 1, "in_channels": 64, "num_layers": 19,
                    "num_single_layers": 38, "attention_head_dim": 128,
                    "num_attention_heads": 24, "joint_attention_dim": 4096,
                    "pooled_projection_dim": 768, "guidance_embeds": True,
                    "axes_dims_rope": (16, 56, 56)},
    "text_encoder": {"vocab_size": 49408, "hidden_size": 768, "intermediate_size": 3072,
                     "num_attention_heads": 12, "num_hidden_layers": 12,
                     "projection_dim": 768, "hidden_act": "quick_gelu",
                     "max_position_embeddings": 77, "pad_token_id": 0, "bos_token_id": 1,
                     "eos_token_id": 1},
    "text_encoder_2": LTX_VIDEO_0_9_5["text_encoder"],
    "vae": {"in_channels": 3, "out_channels": 3, "latent_channels": 16,
            "block_out_channels": (128, 256, 512, 512), "layers_per_block": 2,
            "down_block_types": ("DownEncoderBlock2D",) * 4,
            "up_block_types": ("UpDecoderBlock2D",) * 4, "sample_size": 1024,
            "use_quant_conv": False, "use_post_quant_conv": False,
            "shift_factor": 0.1159, "scaling_factor": 0.3611},
}


def build_random_flux(device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                      seed: int = 0) -> Any:
    """FLUX.1-dev's FluxPipeline at its published size with random weights (byte-level
    tokenizers; the T5 side is padded to max_sequence_length as with the real one). A
    'meta' build counts the catalogue's parameters."""
    arch = FLUX_1_DEV
    torch.manual_seed(seed)
    with _allocating(device, dtype):
        parts = {
            "transformer": diffusers.FluxTransformer2DModel(**arch["transformer"]),
            "text_encoder": transformers.CLIPTextModel(
                transformers.CLIPTextConfig(**arch["text_encoder"])),
            "text_encoder_2": transformers.T5EncoderModel(
                transformers.T5Config(**arch["text_encoder_2"])),
            "vae": diffusers.AutoencoderKL(**arch["vae"]),
        }
    return diffusers.FluxPipeline(
        tokenizer=build_clip_tokenizers()[0], tokenizer_2=build_tokenizer(),
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(
            shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15),
        **parts)


#: Lightricks/LTX-2 (19B, video with sound) at its published size: the audio-video transformer
#: (48 layers; video 32 heads x 128, audio 32 heads x 64, 128 latent channels each), the text
#: connectors (Gemma's 48 layers + embeddings stacked, 30 heads x 128, 128 registers), the
#: video VAE (32x space, 8x time), the audio VAE, the vocoder (24 kHz) and Gemma 3 12B as the
#: text encoder (text 3840 wide, 48 layers, 16 heads with 8 key/value heads of 256, 262208
#: tokens; the SigLIP-so400m vision tower). The diffusers parts are diffusers 0.42's class
#: defaults, which its sources give as LTX-2's, with the 'split' RoPE layout; the hub's
#: config.json files were not compared (unreachable here).
LTX2_19B: dict[str, dict[str, Any]] = {
    "transformer": {"rope_type": "split"},
    "connectors": {"rope_type": "split"},
    # Its blocks halve space three times and time three times (patch 4): 32x and 8x, set
    # here because the class's default formula counts every scaling block as both.
    "vae": {"spatial_compression_ratio": 32, "temporal_compression_ratio": 8},
    "audio_vae": {},
    "vocoder": {},
    "text_encoder": {"vocab_size": 262208, "hidden_size": 3840, "intermediate_size": 15360,
                     "num_hidden_layers": 48, "num_attention_heads": 16,
                     "num_key_value_heads": 8, "head_dim": 256, "sliding_window": 1024,
                     "rope_theta": 1_000_000.0, "query_pre_attn_scalar": 256},
    "vision_encoder": {"hidden_size": 1152, "intermediate_size": 4304,
                       "num_hidden_layers": 27, "num_attention_heads": 16, "image_size": 896,
                       "patch_size": 14, "vision_use_head": False},
}


def build_random_ltx2(device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                      seed: int = 0) -> Any:
    """An LTX2Pipeline at LTX-2's published size with random weights, allocated on `device`
    (a 'meta' build counts the catalogue's parameters). The tokenizer is byte-level, as for
    the random Wan models; the pipeline pads every prompt to max_sequence_length."""
    ltx2: Any = importlib.import_module("diffusers.pipelines.ltx2")
    vocoders: Any = importlib.import_module("diffusers.pipelines.ltx2.vocoder")
    arch = LTX2_19B
    torch.manual_seed(seed)
    with _allocating(device, dtype):
        text = transformers.Gemma3TextConfig(**arch["text_encoder"], pad_token_id=0,
                                             eos_token_id=1, bos_token_id=1)
        vision = transformers.SiglipVisionConfig(**arch["vision_encoder"])
        parts = {
            "text_encoder": transformers.Gemma3ForConditionalGeneration(
                transformers.Gemma3Config(text_config=text.to_dict(),
                                          vision_config=vision.to_dict(),
                                          mm_tokens_per_image=256)),
            "connectors": ltx2.LTX2TextConnectors(**arch["connectors"]),
            "transformer": diffusers.LTX2VideoTransformer3DModel(**arch["transformer"]),
            "vae": diffusers.AutoencoderKLLTX2Video(**arch["vae"]),
            "audio_vae": diffusers.AutoencoderKLLTX2Audio(**arch["audio_vae"]),
            "vocoder": vocoders.LTX2Vocoder(**arch["vocoder"]),
        }
    return diffusers.LTX2Pipeline(scheduler=diffusers.FlowMatchEulerDiscreteScheduler(),
                                  tokenizer=build_tokenizer(), **parts)


#: The other built-in full-size models, by name (the Wan ones are in ARCHITECTURES): each
#: builder takes the device and the dtype.
BUILDERS: dict[str, Callable[..., Any]] = {
    RANDOM_LTX2: build_random_ltx2,
    RANDOM_HUNYUANVIDEO15: build_random_hunyuanvideo15,
    RANDOM_FLUX_1_DEV: build_random_flux,
}


#: HunyuanVideo 1.5 image-to-video's image encoder: SigLIP so400m (patch 14 at 384 px: the
#: 729 tokens of 1152 the transformer's image projection reads); counts the catalogue's
#: `image_encoder` in a 'meta' build.
SIGLIP_SO400M_384: dict[str, Any] = {"hidden_size": 1152, "intermediate_size": 4304,
                                     "num_hidden_layers": 27, "num_attention_heads": 16,
                                     "image_size": 384, "patch_size": 14}


#: black-forest-labs/FLUX.2-dev as diffusers declares it (Flux2Transformer2DModel's and
#: AutoencoderKLFlux2's defaults; not compared with the hub's config.json): the 32B
#: transformer (8 double and 48 single blocks, 48 heads x 128, text 3 x 5120 wide) and
#: Mistral Small 3.1 24B (text 5120 wide, 40 layers; Pixtral vision tower) as its text
#: encoder. Only counted here (a 'meta' build): at about 104 GiB of bfloat16 weights no
#: full-size random build is offered.
MISTRAL_SMALL_3_1_24B: dict[str, Any] = {
    "text_config": {"model_type": "mistral", "vocab_size": 131072, "hidden_size": 5120,
                    "intermediate_size": 32768, "num_hidden_layers": 40,
                    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128},
    "vision_config": {"model_type": "pixtral", "hidden_size": 1024, "intermediate_size": 4096,
                      "num_hidden_layers": 24, "num_attention_heads": 16, "head_dim": 64,
                      "image_size": 1540, "patch_size": 14},
}


def build_flux2_dev_parts(device: torch.device | str = "meta") -> dict[str, Any]:
    """FLUX.2-dev's weighted components at their published size (a 'meta' build counts the
    catalogue's parameters)."""
    with torch.device(device):
        return {
            "transformer": diffusers.Flux2Transformer2DModel(),
            "text_encoder": transformers.Mistral3ForConditionalGeneration(
                transformers.Mistral3Config(**MISTRAL_SMALL_3_1_24B)),
            "vae": diffusers.AutoencoderKLFlux2(),
        }


@dataclass(frozen=True)
class IpAdapterArchitecture:
    """An IP-Adapter Plus (a resampler of image features into `queries` tokens) and the CLIP
    image encoder whose last-but-one hidden states it reads."""

    encoder_hidden: int
    encoder_intermediate: int
    encoder_heads: int
    encoder_layers: int
    image_size: int
    patch_size: int
    projection_dim: int
    resampler_hidden: int
    resampler_heads: int
    queries: int


#: h94/IP-Adapter's SDXL Plus weights (ip-adapter-plus[-face]_sdxl_vit-h): the OpenCLIP
#: ViT-H/14 image encoder (1280 wide, 32 layers, 224 px) and a 1280-wide resampler with 20
#: heads making 16 tokens.
IP_ADAPTER_PLUS_SDXL = IpAdapterArchitecture(1280, 5120, 16, 32, 224, 14, 1024, 1280, 20, 16)
#: The same structure scaled down, for tiny-random-sdxl.
TINY_IP_ADAPTER = IpAdapterArchitecture(32, 37, 4, 2, 32, 8, 32, 32, 1, 4)
#: The Plus resampler's fixed shape in diffusers' loader: 4 blocks, 64-wide heads.
_PLUS_DEPTH, _PLUS_HEAD = 4, 64


def _plus_image_proj(arch: IpAdapterArchitecture, output: int) -> dict[str, torch.Tensor]:
    """Random IP-Adapter Plus resampler weights under the published checkpoints' names."""
    hidden, inner = arch.resampler_hidden, arch.resampler_heads * _PLUS_HEAD

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape) * 0.02

    state = {"latents": torch.randn(1, arch.queries, hidden) / hidden ** 0.5,
             "proj_in.weight": rand(hidden, arch.encoder_hidden),
             "proj_in.bias": torch.zeros(hidden),
             "proj_out.weight": rand(output, hidden), "proj_out.bias": torch.zeros(output),
             "norm_out.weight": torch.ones(output), "norm_out.bias": torch.zeros(output)}
    for i in range(_PLUS_DEPTH):
        for norm in ("0.norm1", "0.norm2", "1.0"):  # the two inputs' norms, the MLP's
            state[f"layers.{i}.{norm}.weight"] = torch.ones(hidden)
            state[f"layers.{i}.{norm}.bias"] = torch.zeros(hidden)
        state[f"layers.{i}.0.to_q.weight"] = rand(inner, hidden)
        state[f"layers.{i}.0.to_kv.weight"] = rand(2 * inner, hidden)
        state[f"layers.{i}.0.to_out.weight"] = rand(hidden, inner)
        state[f"layers.{i}.1.1.weight"] = rand(4 * hidden, hidden)
        state[f"layers.{i}.1.3.weight"] = rand(hidden, 4 * hidden)
    return state


def _ip_attention(unet: Any) -> dict[str, torch.Tensor]:
    """Random image key/value projections for each cross-attention of `unet`, numbered as
    the published checkpoints number them (1, 3, 5, ...: every other attention processor)."""
    channels = unet.config.block_out_channels
    state, key = {}, 1
    for name in unet.attn_processors:
        if not name.endswith("attn2.processor"):
            continue
        block = name.split(".")
        width = (channels[-1] if block[0] == "mid_block"
                 else channels[int(block[1])] if block[0] == "down_blocks"
                 else list(reversed(channels))[int(block[1])])
        for part in ("to_k_ip", "to_v_ip"):
            state[f"{key}.{part}.weight"] = (
                torch.randn(width, unet.config.cross_attention_dim) * 0.02)
        key += 2
    return state


def save_ip_adapter(folder: Path, unet: Any, arch: IpAdapterArchitecture,
                    weights: tuple[str, ...], seed: int = 0) -> None:
    """IP-Adapter Plus weights for `unet` with RANDOM values, laid out like h94/IP-Adapter
    (sdxl_models/<each of weights>, models/image_encoder/): what `reference_adapter` reads."""
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    encoder = transformers.CLIPVisionModelWithProjection(transformers.CLIPVisionConfig(
        hidden_size=arch.encoder_hidden, intermediate_size=arch.encoder_intermediate,
        num_attention_heads=arch.encoder_heads, num_hidden_layers=arch.encoder_layers,
        image_size=arch.image_size, patch_size=arch.patch_size,
        projection_dim=arch.projection_dim, hidden_act="gelu"))
    encoder.save_pretrained(str(folder / "models" / "image_encoder"))
    (folder / "sdxl_models").mkdir(parents=True, exist_ok=True)
    for name in weights:
        parts = {"image_proj": _plus_image_proj(arch, unet.config.cross_attention_dim),
                 "ip_adapter": _ip_attention(unet)}
        save_file({f"{part}.{key}": value.contiguous() for part, tensors in parts.items()
                   for key, value in tensors.items()}, str(folder / "sdxl_models" / name))
