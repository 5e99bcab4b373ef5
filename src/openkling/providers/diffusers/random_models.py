"""Wan 2.1 pipelines at a published size, with random weights, built in memory on the device.

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
from dataclasses import dataclass
from typing import Any

import torch

from openkling.providers.diffusers.model_options import RANDOM_WAN_1_3B, RANDOM_WAN_SMALL
from openkling.providers.diffusers.tiny import build_tokenizer

diffusers: Any = importlib.import_module("diffusers")
transformers: Any = importlib.import_module("transformers")


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

ARCHITECTURES: dict[str, WanArchitecture] = {
    RANDOM_WAN_1_3B: WAN21_T2V_1_3B,
    RANDOM_WAN_SMALL: WAN_SMALL,
}


def build_random_wan(arch: WanArchitecture, device: torch.device | str = "cpu",
                     dtype: torch.dtype = torch.float32, seed: int = 0) -> Any:
    """A WanPipeline of `arch` with deterministic random weights, allocated on `device`.

    The tokenizer is byte-level (the real SentencePiece vocabulary cannot be downloaded);
    the pipeline pads every prompt to max_sequence_length, so the encoder's work is the same.
    The 'meta' device builds without memory, for counting parameters.
    """
    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            text_encoder = transformers.UMT5EncoderModel(transformers.UMT5Config(
                vocab_size=arch.text_vocab_size, d_model=arch.text_d_model,
                d_ff=arch.text_d_ff, d_kv=arch.text_d_kv, num_heads=arch.text_num_heads,
                num_layers=arch.text_num_layers,
                relative_attention_num_buckets=arch.text_buckets,
                relative_attention_max_distance=arch.text_max_distance,
                feed_forward_proj="gated-gelu", dropout_rate=0.0,
            ))
            transformer = diffusers.WanTransformer3DModel(
                patch_size=(1, 2, 2), num_attention_heads=arch.num_attention_heads,
                attention_head_dim=arch.attention_head_dim, in_channels=16, out_channels=16,
                text_dim=arch.text_d_model, freq_dim=arch.freq_dim, ffn_dim=arch.ffn_dim,
                num_layers=arch.num_layers, cross_attn_norm=True,
                qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024,
            )
            vae = diffusers.AutoencoderKLWan(
                base_dim=arch.vae_base_dim, z_dim=16, dim_mult=list(arch.vae_dim_mult),
                num_res_blocks=arch.vae_num_res_blocks, temperal_downsample=[False, True, True],
            )
    finally:
        torch.set_default_dtype(previous)
    scheduler = diffusers.UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000,
        flow_shift=arch.flow_shift,
    )
    return diffusers.WanPipeline(tokenizer=build_tokenizer(), text_encoder=text_encoder,
                                 vae=vae, transformer=transformer, scheduler=scheduler)


def parameter_counts(pipe: Any) -> dict[str, int]:
    """Parameters per component (works on a 'meta' build)."""
    return {name: sum(p.numel() for p in getattr(pipe, name).parameters())
            for name in ("transformer", "text_encoder", "vae")}
