"""`tiny-random-wan` and its siblings: pipelines with tiny, randomly initialised weights.

`tiny-random-wan` is Wan 2.1 text-to-video; `tiny-random-wan-i2v` the same parts in Wan 2.2
TI2V's image-to-video pipeline (first frame conditioning); `tiny-random-sdxl` a Stable
Diffusion XL text-to-image pipeline. Each mirrors the class of the real default model of its
family, so `--model tiny-random-wan` exercises every local family.

It exists so that the whole local path (save_pretrained -> from_pretrained -> denoise ->
decode -> encode) runs with no model hub and no GPU: tests, CI, smoke tests and demos. Its
weights are random, so every video it makes is NOISE. The pipeline is built in code (a Wan
transformer, a Wan VAE, a UMT5 encoder and a byte-level tokenizer made with the `tokenizers`
library; about 300 KB), saved once and then loaded through the same `from_pretrained` path a
real model takes. Imports torch: only the model process (or a test) imports this module.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

# Typed as Any: the constructors of these libraries carry no annotations.
diffusers: Any = importlib.import_module("diffusers")
transformers: Any = importlib.import_module("transformers")

#: The special tokens, as T5 numbers them (pad 0, end of sequence 1).
SPECIAL_TOKENS = {"pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>"}
#: Width of the text embeddings: the encoder's d_model and the transformer's text_dim.
TEXT_DIM = 32
README = (
    "tiny-random-wan: a Wan 2.1 text-to-video pipeline with tiny RANDOM weights, built by "
    "openkling for tests and demos. It produces noise, not pictures.\n"
)


def build_tokenizer() -> Any:
    """A byte-level tokenizer: every byte is a token, so no prompt is ever unknown."""
    vocab: dict[str, int] = {token: i for i, token in enumerate(SPECIAL_TOKENS.values())}
    for symbol in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[symbol] = len(vocab)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=SPECIAL_TOKENS["unk_token"]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", vocab["</s>"])]
    )
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, **SPECIAL_TOKENS)


def build_clip_tokenizers() -> list[Any]:
    """SDXL's two tokenizers, byte-level, cut at CLIP's 77 positions."""
    tokenizers = []
    for _ in range(2):
        tokenizer = build_tokenizer()
        tokenizer.model_max_length = 77
        tokenizers.append(tokenizer)
    return tokenizers


def build_pipeline(seed: int = 0) -> Any:
    """The tiny pipeline, in memory, with deterministic random weights."""
    tokenizer = build_tokenizer()
    torch.manual_seed(seed)
    text_encoder = transformers.UMT5EncoderModel(
        transformers.UMT5Config(
            vocab_size=len(tokenizer),
            d_model=TEXT_DIM,
            d_kv=8,
            d_ff=64,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            relative_attention_max_distance=32,
        )
    )
    # Same spatial (8x) and temporal (4x) compression as the real Wan VAE, tiny channels.
    vae = diffusers.AutoencoderKLWan(
        base_dim=3,
        z_dim=16,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
    )
    transformer = diffusers.WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=16,
        out_channels=16,
        text_dim=TEXT_DIM,
        freq_dim=32,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=1024,
    )
    # The scheduler the real Wan 2.1 checkpoints ship with.
    scheduler = diffusers.UniPCMultistepScheduler(
        prediction_type="flow_prediction",
        use_flow_sigmas=True,
        num_train_timesteps=1000,
        flow_shift=3.0,
    )
    return diffusers.WanPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        transformer=transformer,
        scheduler=scheduler,
    )


def build_i2v_pipeline(seed: int = 0) -> Any:
    """Wan 2.2 TI2V's image-to-video pipeline around the tiny Wan parts.

    As in TI2V-5B there is no CLIP image encoder: the first frame's latents replace the
    noise of frame one (`expand_timesteps`), so the transformer is the text-to-video one.
    """
    base = build_pipeline(seed)
    return diffusers.WanImageToVideoPipeline(
        tokenizer=base.tokenizer,
        text_encoder=base.text_encoder,
        vae=base.vae,
        transformer=base.transformer,
        scheduler=base.scheduler,
        image_encoder=None,
        image_processor=None,
        expand_timesteps=True,
    )


def build_image_pipeline(seed: int = 0) -> Any:
    """A tiny Stable Diffusion XL pipeline: two CLIP text encoders, a UNet, a VAE."""
    torch.manual_seed(seed)
    tokenizers = build_clip_tokenizers()
    clip = {
        "vocab_size": len(tokenizers[0]), "hidden_size": 32, "intermediate_size": 37,
        "num_attention_heads": 4, "num_hidden_layers": 2, "max_position_embeddings": 77,
        "pad_token_id": 0, "eos_token_id": 1, "bos_token_id": 1, "projection_dim": 32,
    }
    text_encoder = transformers.CLIPTextModel(transformers.CLIPTextConfig(**clip))
    text_encoder_2 = transformers.CLIPTextModelWithProjection(transformers.CLIPTextConfig(**clip))
    unet = diffusers.UNet2DConditionModel(
        block_out_channels=(16, 32),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        # 6 size/crop numbers of 8 dims each, plus the pooled text embedding (32).
        projection_class_embeddings_input_dim=6 * 8 + 32,
        cross_attention_dim=64,  # both encoders' hidden states, concatenated
        norm_num_groups=8,
    )
    vae = diffusers.AutoencoderKL(
        block_out_channels=[8, 16],
        norm_num_groups=8,
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        sample_size=64,
    )
    scheduler = diffusers.EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        timestep_spacing="leading", steps_offset=1,
    )
    return diffusers.StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizers[0],
        tokenizer_2=tokenizers[1],
        unet=unet,
        scheduler=scheduler,
    )


#: Every tiny model id, with its builder and the line its README starts with.
TINY_BUILDERS: dict[str, tuple[Callable[[], Any], str]] = {
    "tiny-random-wan": (build_pipeline, README),
    "tiny-random-wan-i2v": (
        build_i2v_pipeline,
        "tiny-random-wan-i2v: a Wan image-to-video pipeline with tiny RANDOM weights, built by "
        "openkling for tests and demos. It produces noise, not pictures.\n",
    ),
    "tiny-random-sdxl": (
        build_image_pipeline,
        "tiny-random-sdxl: a Stable Diffusion XL pipeline with tiny RANDOM weights, built by "
        "openkling for tests and demos. It produces noise, not pictures.\n",
    ),
}


def ensure_saved(folder: Path, model: str = "tiny-random-wan") -> Path:
    """Build and save the tiny pipeline `model` into `folder` unless it is already there.

    Saved into a temporary sibling and renamed, so concurrent model processes never see a
    half-written folder.
    """
    if (folder / "model_index.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        build, readme = TINY_BUILDERS[model]
        build().save_pretrained(str(staging))
        (staging / "README.txt").write_text(readme, encoding="utf-8")
        try:
            os.replace(staging, folder)
        except OSError:
            if not (folder / "model_index.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
