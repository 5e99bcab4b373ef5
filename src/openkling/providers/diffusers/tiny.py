"""`tiny-random-wan` and its siblings: pipelines with tiny, randomly initialised weights.

`tiny-random-wan` is Wan 2.1 text-to-video; `tiny-random-wan-i2v` the same parts in Wan 2.2
TI2V's image-to-video pipeline (first frame conditioning); `tiny-random-wan-vace` Wan VACE
(reference images to video, videos/multi-image2video; first/end frames, videos/omni-video);
`tiny-random-qwen-image` Qwen-Image
(images/editing/expand) and `tiny-random-qwen-image-edit-plus` Qwen-Image-Edit Plus
(images/multi-image2image); `tiny-random-sdxl` a Stable
Diffusion XL text-to-image pipeline; `tiny-random-stable-audio` Stable Audio Open (text to
sound); `tiny-random-ltx-video` LTX-Video's condition pipeline (videos/video-extend);
`tiny-random-hunyuanvideo15` (and `-i2v`) HunyuanVideo 1.5; `tiny-random-flux` FLUX.1 and
`tiny-random-flux2` FLUX.2 (images/generations).
Each mirrors the class of the real default model of its family, so `--model tiny-random-wan`
exercises every local family.

It exists so that the whole local path (save_pretrained -> from_pretrained -> denoise ->
decode -> encode) runs with no model hub and no GPU: tests, CI, smoke tests and demos. Its
weights are random, so every video it makes is NOISE. The pipeline is built in code (a Wan
transformer, a Wan VAE, a UMT5 encoder and a byte-level tokenizer made with the `tokenizers`
library; about 300 KB), saved once and then loaded through the same `from_pretrained` path a
real model takes. Imports torch: only the model process (or a test) imports this module.
"""

from __future__ import annotations

import importlib
import json
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


def build_a14b_pipeline(seed: int = 0) -> Any:
    """Wan 2.2 A14B's form around the tiny Wan parts: two experts (`transformer` for the high
    noise steps, `transformer_2` for the rest) split at boundary 0.875, as the T2V model."""
    base = build_pipeline(seed)
    torch.manual_seed(seed + 1)
    expert_2 = diffusers.WanTransformer3DModel.from_config(base.transformer.config)
    return diffusers.WanPipeline(
        tokenizer=base.tokenizer, text_encoder=base.text_encoder, vae=base.vae,
        transformer=base.transformer, transformer_2=expert_2, scheduler=base.scheduler,
        boundary_ratio=0.875,
    )


def build_a14b_i2v_pipeline(seed: int = 0) -> Any:
    """Wan 2.2 I2V A14B's form: two experts split at boundary 0.9, no image encoder; the
    first frame's latents and a mask join the noise (16 + 16 + 4 = 36 input channels)."""
    base = build_pipeline(seed)
    config = {**base.transformer.config, "in_channels": 36}
    torch.manual_seed(seed + 2)
    experts = [diffusers.WanTransformer3DModel.from_config(config) for _ in range(2)]
    return diffusers.WanImageToVideoPipeline(
        tokenizer=base.tokenizer, text_encoder=base.text_encoder, vae=base.vae,
        transformer=experts[0], transformer_2=experts[1], scheduler=base.scheduler,
        image_encoder=None, image_processor=None, boundary_ratio=0.9,
    )


def build_qwen_image_pipeline(seed: int = 0) -> Any:
    """A tiny Qwen-Image (text to image): a 2-layer Qwen2.5-VL text encoder with the
    byte-level tokenizer, a 2-layer Qwen-Image transformer and its VAE (8x, 4 latent
    channels here, 16 in the real one)."""
    tokenizer = build_tokenizer()
    torch.manual_seed(seed)
    text_encoder = transformers.Qwen2_5_VLForConditionalGeneration(transformers.Qwen2_5_VLConfig(
        text_config={"vocab_size": len(tokenizer), "hidden_size": 16, "intermediate_size": 16,
                     "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 2,
                     "rope_scaling": {"type": "mrope", "mrope_section": [1, 1, 2]},
                     "bos_token_id": 1, "eos_token_id": 1, "pad_token_id": 0},
        vision_config={"depth": 1, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2,
                       "out_hidden_size": 16, "patch_size": 14, "spatial_merge_size": 2,
                       "temporal_patch_size": 2},
        vocab_size=len(tokenizer), hidden_size=16, bos_token_id=1, eos_token_id=1,
    ))
    transformer = diffusers.QwenImageTransformer2DModel(
        patch_size=2, in_channels=16, out_channels=4, num_layers=2, attention_head_dim=16,
        num_attention_heads=3, joint_attention_dim=16, guidance_embeds=False,
        axes_dims_rope=(8, 4, 4),
    )
    vae = diffusers.AutoencoderKLQwenImage(
        base_dim=24, z_dim=4, dim_mult=[1, 2, 4], num_res_blocks=1,
        temperal_downsample=[False, True], latents_mean=[0.0] * 4, latents_std=[1.0] * 4,
    )
    return diffusers.QwenImagePipeline(scheduler=diffusers.FlowMatchEulerDiscreteScheduler(),
                                       vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                       transformer=transformer)


def build_qwen_image_edit_plus_pipeline(seed: int = 0) -> Any:
    """A tiny Qwen-Image-Edit Plus (several pictures and an instruction to a picture): the
    byte-level tokenizer with Qwen2.5-VL's vision tokens, a Qwen2VL processor (pictures
    only: see qwen_edit.py), a 2-layer Qwen2.5-VL whose 1-block vision tower reads the
    pictures, the tiny Qwen-Image transformer and a Qwen-Image VAE that compresses 8x like
    the real one (4 latent channels, 16 in the real one)."""
    from openkling.providers.diffusers.qwen_edit import VISION_TOKENS, ImageQwen2VLProcessor

    tokenizer = build_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": list(VISION_TOKENS)})
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in VISION_TOKENS}
    processor = ImageQwen2VLProcessor(image_processor=transformers.Qwen2VLImageProcessor(),
                                      tokenizer=tokenizer)
    torch.manual_seed(seed)
    text_encoder = transformers.Qwen2_5_VLForConditionalGeneration(transformers.Qwen2_5_VLConfig(
        text_config={"vocab_size": len(tokenizer), "hidden_size": 16, "intermediate_size": 16,
                     "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 2,
                     "rope_scaling": {"type": "mrope", "mrope_section": [1, 1, 2]},
                     "bos_token_id": 1, "eos_token_id": 1, "pad_token_id": 0},
        vision_config={"depth": 1, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2,
                       "out_hidden_size": 16, "patch_size": 14, "spatial_merge_size": 2,
                       "temporal_patch_size": 2, "fullatt_block_indexes": [0]},
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        vocab_size=len(tokenizer), hidden_size=16, bos_token_id=1, eos_token_id=1,
    ))
    transformer = diffusers.QwenImageTransformer2DModel(
        patch_size=2, in_channels=16, out_channels=4, num_layers=2, attention_head_dim=16,
        num_attention_heads=3, joint_attention_dim=16, guidance_embeds=False,
        axes_dims_rope=(8, 4, 4),
    )
    vae = diffusers.AutoencoderKLQwenImage(
        base_dim=8, z_dim=4, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
        temperal_downsample=[False, True, True], latents_mean=[0.0] * 4, latents_std=[1.0] * 4,
    )
    return diffusers.QwenImageEditPlusPipeline(
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(), vae=vae,
        text_encoder=text_encoder, tokenizer=tokenizer, processor=processor,
        transformer=transformer)


def _save_edit_plus(pipe: Any, folder: Path) -> None:
    """Saved as the published checkpoints are: the processor under the name transformers
    knows (Qwen2VLProcessor), which loads with or without torchvision (qwen_edit.py)."""
    pipe.save_pretrained(str(folder))
    index_path = folder / "model_index.json"
    index = json.loads(index_path.read_text(encoding="utf-8"))
    index["processor"] = ["transformers", "Qwen2VLProcessor"]
    index_path.write_text(json.dumps(index, indent=2), encoding="utf-8")
    config_path = folder / "processor" / "processor_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["processor_class"] = "Qwen2VLProcessor"
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")


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


def build_vace_pipeline(seed: int = 0) -> Any:
    """Wan VACE (reference images to video) around the tiny Wan parts: the Wan 2.1 tiny
    transformer's dimensions with one VACE block at layer 0. Its control input is the
    video's inactive and reactive latents (16 + 16) and the 8x8 mask (64): 96 channels, as
    in Wan2.1-VACE-1.3B."""
    base = build_pipeline(seed)
    config = {key: value for key, value in base.transformer.config.items()
              if not key.startswith("_")}
    torch.manual_seed(seed + 3)
    transformer = diffusers.WanVACETransformer3DModel(**config, vace_layers=[0],
                                                      vace_in_channels=96)
    return diffusers.WanVACEPipeline(
        tokenizer=base.tokenizer, text_encoder=base.text_encoder, vae=base.vae,
        transformer=transformer, scheduler=base.scheduler,
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


#: The tiny LTX-2's sound: 16 kHz, one mel frame every 16 samples, and a vocoder that
#: upsamples 4 x 4 = 16x, so the waveform lasts exactly as long as the video.
LTX2_SAMPLE_RATE = 16000
LTX2_HOP = 16


def build_ltx2_pipeline(seed: int = 0, image_to_video: bool = False) -> Any:
    """A tiny LTX-2 (video with synchronized sound): a Gemma 3 text encoder, the text
    connectors, the audio-video transformer, the video and audio VAEs and the vocoder.

    The video VAE compresses 2x in space and time (the real one 32x and 8x), so frame counts
    are 2k + 1 here. The text width (32) is the connectors' width (4 heads x 8), as LTX-2
    needs without per-modality projections.
    """
    ltx2: Any = importlib.import_module("diffusers.pipelines.ltx2")
    vocoders: Any = importlib.import_module("diffusers.pipelines.ltx2.vocoder")

    tokenizer = build_tokenizer()
    torch.manual_seed(seed)
    text = transformers.Gemma3TextConfig(
        vocab_size=len(tokenizer), hidden_size=TEXT_DIM, intermediate_size=32,
        num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=8,
        max_position_embeddings=256, sliding_window=64, pad_token_id=0, eos_token_id=1,
        bos_token_id=1,
    )
    vision = transformers.SiglipVisionConfig(hidden_size=16, intermediate_size=32,
                                             num_hidden_layers=1, num_attention_heads=2,
                                             image_size=16, patch_size=8)
    text_encoder = transformers.Gemma3ForConditionalGeneration(transformers.Gemma3Config(
        text_config=text.to_dict(), vision_config=vision.to_dict(), mm_tokens_per_image=4))
    connectors = ltx2.LTX2TextConnectors(
        caption_channels=TEXT_DIM, text_proj_in_factor=text.num_hidden_layers + 1,
        video_connector_num_attention_heads=4, video_connector_attention_head_dim=8,
        video_connector_num_layers=1, video_connector_num_learnable_registers=None,
        audio_connector_num_attention_heads=4, audio_connector_attention_head_dim=8,
        audio_connector_num_layers=1, audio_connector_num_learnable_registers=None,
        connector_rope_base_seq_len=32, rope_double_precision=False, rope_type="split",
    )
    transformer = diffusers.LTX2VideoTransformer3DModel(
        in_channels=4, out_channels=4, patch_size=1, patch_size_t=1, num_attention_heads=2,
        attention_head_dim=8, cross_attention_dim=16, audio_in_channels=4,
        audio_out_channels=4, audio_num_attention_heads=2, audio_attention_head_dim=4,
        audio_cross_attention_dim=8, num_layers=2, qk_norm="rms_norm_across_heads",
        caption_channels=TEXT_DIM, rope_double_precision=False, rope_type="split",
    )
    vae = diffusers.AutoencoderKLLTX2Video(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8,),
        decoder_block_out_channels=(8,), layers_per_block=(1,), decoder_layers_per_block=(1, 1),
        spatio_temporal_scaling=(True,), decoder_spatio_temporal_scaling=(True,),
        decoder_inject_noise=(False, False), downsample_type=("spatial",),
        upsample_residual=(False,), upsample_factor=(1,), timestep_conditioning=False,
        patch_size=1, patch_size_t=1, encoder_causal=True, decoder_causal=False,
    )
    audio_vae = diffusers.AutoencoderKLLTX2Audio(
        base_channels=4, output_channels=2, ch_mult=(1,), num_res_blocks=1,
        attn_resolutions=None, in_channels=2, resolution=32, latent_channels=2,
        norm_type="pixel", causality_axis="height", dropout=0.0, mid_block_add_attention=False,
        sample_rate=LTX2_SAMPLE_RATE, mel_hop_length=LTX2_HOP, is_causal=True, mel_bins=8,
    )
    vocoder = vocoders.LTX2Vocoder(
        in_channels=2 * 8, hidden_channels=16, out_channels=2, upsample_kernel_sizes=[8, 8],
        upsample_factors=[4, 4], resnet_kernel_sizes=[3], resnet_dilations=[[1, 3]],
        leaky_relu_negative_slope=0.1, output_sampling_rate=LTX2_SAMPLE_RATE,
    )
    cls = diffusers.LTX2ImageToVideoPipeline if image_to_video else diffusers.LTX2Pipeline
    return cls(scheduler=diffusers.FlowMatchEulerDiscreteScheduler(), vae=vae,
               audio_vae=audio_vae, text_encoder=text_encoder, tokenizer=tokenizer,
               connectors=connectors, transformer=transformer, vocoder=vocoder)


#: The tiny Stable Audio's sound: 16 kHz stereo (MP3 takes 8..48 kHz; the real model makes
#: 44.1 kHz), 80 latent steps of 2048 samples (the real VAE's hop): 10.24 s at most, enough
#: for Kling's text-to-audio durations (3.0..10.0 s).
STABLE_AUDIO_SAMPLE_RATE = 16000
STABLE_AUDIO_LATENT_STEPS = 80


def build_stable_audio_pipeline(seed: int = 0) -> Any:
    """A tiny Stable Audio Open (text to sound): a T5 encoder with the byte-level tokenizer,
    the projection model that embeds the text and the start/end seconds, a 2-layer Stable
    Audio DiT and an Oobleck VAE with the real one's downsampling (2 x 4 x 4 x 8 x 8 = 2048)
    and tiny channels."""
    stable_audio: Any = importlib.import_module("diffusers.pipelines.stable_audio")

    tokenizer = build_tokenizer()
    tokenizer.model_max_length = 64  # the real T5 tokenizer's is 128
    torch.manual_seed(seed)
    text_encoder = transformers.T5EncoderModel(transformers.T5Config(
        vocab_size=len(tokenizer), d_model=TEXT_DIM, d_kv=8, d_ff=64, num_layers=2,
        num_heads=4, relative_attention_num_buckets=8, relative_attention_max_distance=32,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    ))
    # Seconds are embedded on the real model's scale (0..512).
    projection = stable_audio.StableAudioProjectionModel(
        text_encoder_dim=TEXT_DIM, conditioning_dim=16, min_value=0, max_value=512)
    transformer = diffusers.StableAudioDiTModel(
        sample_size=STABLE_AUDIO_LATENT_STEPS, in_channels=4, num_layers=2,
        attention_head_dim=8, num_attention_heads=2, num_key_value_attention_heads=1,
        out_channels=4, cross_attention_dim=16, time_proj_dim=16, global_states_input_dim=32,
        cross_attention_input_dim=16,
    )
    vae = diffusers.AutoencoderOobleck(
        encoder_hidden_size=4, downsampling_ratios=[2, 4, 4, 8, 8], decoder_channels=4,
        decoder_input_channels=4, audio_channels=2, channel_multiples=[1, 2, 2, 2, 2],
        sampling_rate=STABLE_AUDIO_SAMPLE_RATE,
    )
    # The scheduler Stable Audio Open 1.0 ships with.
    scheduler = diffusers.EDMDPMSolverMultistepScheduler(
        solver_order=2, prediction_type="v_prediction", sigma_data=1.0,
        sigma_schedule="exponential",
    )
    return diffusers.StableAudioPipeline(vae=vae, text_encoder=text_encoder,
                                         projection_model=projection, tokenizer=tokenizer,
                                         transformer=transformer, scheduler=scheduler)


def build_ltx_condition_pipeline(seed: int = 0) -> Any:
    """A tiny LTX-Video (0.9.5+) in its condition pipeline, the video-extend model: a T5
    encoder with the byte-level tokenizer, a 2-layer LTX-Video transformer and an LTX-Video
    VAE that compresses 8x in space and 8x in time like the real one (which adds 4x4 pixel
    patches: 32x in space), so conditioning videos and outputs have 8k + 1 frames."""
    tokenizer = build_tokenizer()
    torch.manual_seed(seed)
    text_encoder = transformers.T5EncoderModel(transformers.T5Config(
        vocab_size=len(tokenizer), d_model=TEXT_DIM, d_kv=8, d_ff=64, num_layers=2,
        num_heads=4, relative_attention_num_buckets=8, relative_attention_max_distance=32,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    ))
    transformer = diffusers.LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=2,
        attention_head_dim=8, cross_attention_dim=16, num_layers=2, caption_channels=TEXT_DIM,
    )
    # Three of four blocks halve time and space: 8x and 8x.
    vae = diffusers.AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, False),
        decoder_spatio_temporal_scaling=(True, True, True, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False), upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=False, patch_size=1, patch_size_t=1, encoder_causal=True,
        decoder_causal=False,
    )
    return diffusers.LTXConditionPipeline(
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(), vae=vae,
        text_encoder=text_encoder, tokenizer=tokenizer, transformer=transformer)


def build_ltx2_i2v_pipeline(seed: int = 0) -> Any:
    """The tiny LTX-2 in its image-to-video pipeline (the first frame conditions the video)."""
    return build_ltx2_pipeline(seed, image_to_video=True)


#: A chat template for the byte-level tokenizer: HunyuanVideo 1.5 renders its prompt with
#: the Qwen2.5-VL tokenizer's template (system message, user turn) before encoding.
CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant: {% endif %}")


def build_hunyuanvideo15_pipeline(seed: int = 0, image_to_video: bool = False) -> Any:
    """A tiny HunyuanVideo 1.5: a 3-layer Qwen2.5-VL text model (the pipeline reads the
    third-last hidden layer) with the byte-level tokenizer and a chat template, a 1-layer
    ByT5-style T5 encoder (quoted text in the prompt), a 1-layer transformer and the
    HunyuanVideo 1.5 VAE (16x space, 4x time, 4 latent channels here, 32 in the real one);
    guidance through a ClassifierFreeGuidance guider. With `image_to_video`, a 1-layer
    SigLIP vision encoder reads the first frame (HunyuanVideo15ImageToVideoPipeline)."""
    torch.manual_seed(seed)
    tokenizer = build_tokenizer()
    tokenizer.chat_template = CHAT_TEMPLATE
    text_encoder = transformers.Qwen2_5_VLTextModel(transformers.Qwen2_5_VLTextConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=16, num_hidden_layers=3,
        num_attention_heads=2, num_key_value_heads=2, pad_token_id=0, bos_token_id=1,
        eos_token_id=1, rope_scaling={"type": "mrope", "mrope_section": [1, 1, 2]},
    ))
    tokenizer_2 = build_tokenizer()
    text_encoder_2 = transformers.T5EncoderModel(transformers.T5Config(
        vocab_size=len(tokenizer_2), d_model=8, d_kv=4, d_ff=16, num_layers=1, num_heads=2))
    # Latents (4), the condition latents (4) and the condition mask (1) go in.
    transformer = diffusers.HunyuanVideo15Transformer3DModel(
        in_channels=9, out_channels=4, num_attention_heads=2, attention_head_dim=8,
        num_layers=1, num_refiner_layers=1, text_embed_dim=16, text_embed_2_dim=8,
        image_embed_dim=8, rope_axes_dim=(2, 2, 4), target_size=64,
        task_type="i2v" if image_to_video else "t2v",
    )
    vae = diffusers.AutoencoderKLHunyuanVideo15(latent_channels=4,
                                                block_out_channels=(8, 8, 8, 8, 8),
                                                layers_per_block=1)
    parts: dict[str, Any] = {
        "text_encoder": text_encoder, "tokenizer": tokenizer, "transformer": transformer,
        "vae": vae, "scheduler": diffusers.FlowMatchEulerDiscreteScheduler(shift=5.0),
        "text_encoder_2": text_encoder_2, "tokenizer_2": tokenizer_2,
        "guider": diffusers.ClassifierFreeGuidance(guidance_scale=6.0),
    }
    if not image_to_video:
        return diffusers.HunyuanVideo15Pipeline(**parts)
    image_encoder = transformers.SiglipVisionModel(transformers.SiglipVisionConfig(
        hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
        image_size=28, patch_size=14))
    feature_extractor = transformers.SiglipImageProcessor(size={"height": 28, "width": 28})
    return diffusers.HunyuanVideo15ImageToVideoPipeline(
        **parts, image_encoder=image_encoder, feature_extractor=feature_extractor)


def build_hunyuanvideo15_i2v_pipeline(seed: int = 0) -> Any:
    """The tiny HunyuanVideo 1.5 in its image-to-video pipeline."""
    return build_hunyuanvideo15_pipeline(seed, image_to_video=True)


def build_flux_pipeline(seed: int = 0) -> Any:
    """A tiny FLUX.1 (dev form: guidance embedded): a CLIP text encoder (its pooled output)
    and a T5 encoder, both on the byte-level tokenizer, a transformer of one double and one
    single block, and an 8x VAE whose 4 latent channels the pipeline packs 2x2 (16 real)."""
    torch.manual_seed(seed)
    clip_tokenizer = build_clip_tokenizers()[0]
    t5_tokenizer = build_tokenizer()
    text_encoder = transformers.CLIPTextModel(transformers.CLIPTextConfig(
        vocab_size=len(clip_tokenizer), hidden_size=16, intermediate_size=16,
        num_attention_heads=2, num_hidden_layers=1, max_position_embeddings=77,
        projection_dim=16, pad_token_id=0, bos_token_id=1, eos_token_id=1))
    text_encoder_2 = transformers.T5EncoderModel(transformers.T5Config(
        vocab_size=len(t5_tokenizer), d_model=16, d_kv=8, d_ff=16, num_layers=1, num_heads=2))
    transformer = diffusers.FluxTransformer2DModel(
        patch_size=1, in_channels=16, out_channels=16, num_layers=1, num_single_layers=1,
        attention_head_dim=8, num_attention_heads=2, joint_attention_dim=16,
        pooled_projection_dim=16, guidance_embeds=True, axes_dims_rope=(2, 2, 4),
    )
    vae = diffusers.AutoencoderKL(
        block_out_channels=[8, 8, 8, 8], norm_num_groups=8, in_channels=3, out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
        latent_channels=4, sample_size=64, layers_per_block=1, use_quant_conv=False,
        use_post_quant_conv=False, shift_factor=0.1159, scaling_factor=0.3611,
    )
    return diffusers.FluxPipeline(
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True,
                                                            base_shift=0.5, max_shift=1.15),
        vae=vae, text_encoder=text_encoder, tokenizer=clip_tokenizer,
        text_encoder_2=text_encoder_2, tokenizer_2=t5_tokenizer, transformer=transformer)


def build_flux2_pipeline(seed: int = 0) -> Any:
    """A tiny FLUX.2: a Mistral 3 text encoder (30 tiny layers: the pipeline stacks hidden
    layers 10, 20 and 30) with a one-block Pixtral vision tower, the byte-level tokenizer
    with a chat template standing in for Mistral's processor, a transformer of one double and
    one single block, and the FLUX.2 VAE (8x, 4 latent channels packed 2x2; 32 real)."""
    torch.manual_seed(seed)
    tokenizer = build_tokenizer()
    tokenizer.chat_template = ("{% for m in messages %}{{ m['role'] }}: {% for c in "
                               "m['content'] %}{{ c['text'] }}{% endfor %}\n{% endfor %}")
    text_encoder = transformers.Mistral3ForConditionalGeneration(transformers.Mistral3Config(
        text_config={"model_type": "mistral", "vocab_size": len(tokenizer), "hidden_size": 8,
                     "intermediate_size": 8, "num_hidden_layers": 30, "num_attention_heads": 2,
                     "num_key_value_heads": 1, "head_dim": 4, "pad_token_id": 0},
        vision_config={"model_type": "pixtral", "hidden_size": 8, "intermediate_size": 8,
                       "num_hidden_layers": 1, "num_attention_heads": 2, "head_dim": 4,
                       "image_size": 28, "patch_size": 14},
        image_token_index=3, spatial_merge_size=2))
    # Three stacked hidden layers of 8: joint attention 24 wide.
    transformer = diffusers.Flux2Transformer2DModel(
        patch_size=1, in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=8,
        num_attention_heads=2, joint_attention_dim=24, axes_dims_rope=(2, 2, 2, 2))
    vae = diffusers.AutoencoderKLFlux2(block_out_channels=(8, 8, 8, 8), latent_channels=4,
                                       layers_per_block=1, norm_num_groups=8)
    return diffusers.Flux2Pipeline(scheduler=diffusers.FlowMatchEulerDiscreteScheduler(),
                                   vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                   transformer=transformer)


#: Every tiny model id, with its builder and the line its README starts with.
TINY_BUILDERS: dict[str, tuple[Callable[[], Any], str]] = {
    "tiny-random-wan": (build_pipeline, README),
    "tiny-random-wan-i2v": (
        build_i2v_pipeline,
        "tiny-random-wan-i2v: a Wan image-to-video pipeline with tiny RANDOM weights, built by "
        "openkling for tests and demos. It produces noise, not pictures.\n",
    ),
    "tiny-random-wan2.2-a14b": (
        build_a14b_pipeline,
        "tiny-random-wan2.2-a14b: a Wan 2.2 A14B-shaped pipeline (two experts) with tiny RANDOM "
        "weights, built by openkling for tests and demos. It produces noise, not pictures.\n",
    ),
    "tiny-random-wan2.2-a14b-i2v": (
        build_a14b_i2v_pipeline,
        "tiny-random-wan2.2-a14b-i2v: a Wan 2.2 I2V A14B-shaped pipeline (two experts) with tiny "
        "RANDOM weights, built by openkling for tests and demos. It produces noise.\n",
    ),
    "tiny-random-wan-vace": (
        build_vace_pipeline,
        "tiny-random-wan-vace: a Wan VACE reference-to-video pipeline with tiny RANDOM "
        "weights, built by openkling for tests and demos. It produces noise, not pictures.\n",
    ),
    "tiny-random-qwen-image": (
        build_qwen_image_pipeline,
        "tiny-random-qwen-image: a Qwen-Image text-to-image pipeline with tiny RANDOM weights, "
        "built by openkling for tests and demos. It produces noise.\n",
    ),
    "tiny-random-qwen-image-edit-plus": (
        build_qwen_image_edit_plus_pipeline,
        "tiny-random-qwen-image-edit-plus: a Qwen-Image-Edit Plus pipeline (several pictures "
        "and an instruction) with tiny RANDOM weights, built by openkling for tests and demos. "
        "It produces noise.\n",
    ),
    "tiny-random-ltx2": (
        build_ltx2_pipeline,
        "tiny-random-ltx2: an LTX-2 text-to-video-with-sound pipeline with tiny RANDOM weights, "
        "built by openkling for tests and demos. It produces noise, not pictures or sound.\n",
    ),
    "tiny-random-ltx2-i2v": (
        build_ltx2_i2v_pipeline,
        "tiny-random-ltx2-i2v: an LTX-2 image-to-video-with-sound pipeline with tiny RANDOM "
        "weights, built by openkling for tests and demos. It produces noise.\n",
    ),
    "tiny-random-ltx-video": (
        build_ltx_condition_pipeline,
        "tiny-random-ltx-video: an LTX-Video condition pipeline (video extension) with tiny "
        "RANDOM weights, built by openkling for tests and demos. It produces noise.\n",
    ),
    "tiny-random-stable-audio": (
        build_stable_audio_pipeline,
        "tiny-random-stable-audio: a Stable Audio Open text-to-audio pipeline with tiny RANDOM "
        "weights, built by openkling for tests and demos. It produces noise, not sound.\n",
    ),
    "tiny-random-hunyuanvideo15": (
        build_hunyuanvideo15_pipeline,
        "tiny-random-hunyuanvideo15: a HunyuanVideo 1.5 text-to-video pipeline with tiny "
        "RANDOM weights, built by openkling for tests and demos. It produces noise.\n",
    ),
    "tiny-random-hunyuanvideo15-i2v": (
        build_hunyuanvideo15_i2v_pipeline,
        "tiny-random-hunyuanvideo15-i2v: a HunyuanVideo 1.5 image-to-video pipeline with tiny "
        "RANDOM weights, built by openkling for tests and demos. It produces noise.\n",
    ),
    "tiny-random-flux": (
        build_flux_pipeline,
        "tiny-random-flux: a FLUX.1 text-to-image pipeline with tiny RANDOM weights, built by "
        "openkling for tests and demos. It produces noise, not pictures.\n",
    ),
    "tiny-random-flux2": (
        build_flux2_pipeline,
        "tiny-random-flux2: a FLUX.2 text-to-image pipeline with tiny RANDOM weights, built by "
        "openkling for tests and demos. It produces noise, not pictures.\n",
    ),
    "tiny-random-sdxl": (
        build_image_pipeline,
        "tiny-random-sdxl: a Stable Diffusion XL pipeline with tiny RANDOM weights, built by "
        "openkling for tests and demos. It produces noise, not pictures.\n",
    ),
}


def _save_once(folder: Path, marker: str, write: Callable[[Path], None]) -> Path:
    """Write a built model into `folder` once (`marker` tells it is there): into a temporary
    sibling, then renamed, so concurrent model processes never see a half-written folder."""
    if (folder / marker).is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        write(staging)
        try:
            os.replace(staging, folder)
        except OSError:
            if not (folder / marker).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def ensure_saved(folder: Path, model: str = "tiny-random-wan") -> Path:
    """Build and save the tiny pipeline `model` into `folder` unless it is already there."""
    def write(staging: Path) -> None:
        build, readme = TINY_BUILDERS[model]
        pipe = build()
        if type(pipe).__name__ == "QwenImageEditPlusPipeline":
            _save_edit_plus(pipe, staging)
        else:
            pipe.save_pretrained(str(staging))
        (staging / "README.txt").write_text(readme, encoding="utf-8")

    return _save_once(folder, "model_index.json", write)


#: `tiny-random-ip-adapter`: IP-Adapter Plus weights for `tiny-random-sdxl`, laid out like
#: h94/IP-Adapter (sdxl_models/<weights>.safetensors, models/image_encoder/).
TINY_IP_ADAPTER_WEIGHTS = ("ip-adapter-plus_tiny.safetensors",
                           "ip-adapter-plus-face_tiny.safetensors")


def ensure_ip_adapter_saved(folder: Path, seed: int = 0) -> Path:
    """Build and save `tiny-random-ip-adapter` (two Plus weights and a tiny CLIP image
    encoder, all RANDOM) into `folder` unless it is already there."""
    from openkling.providers.diffusers.random_models import TINY_IP_ADAPTER, save_ip_adapter

    def write(staging: Path) -> None:
        save_ip_adapter(staging, build_image_pipeline(seed).unet, TINY_IP_ADAPTER,
                        TINY_IP_ADAPTER_WEIGHTS, seed)
        (staging / "README.txt").write_text(
            "tiny-random-ip-adapter: IP-Adapter Plus weights and a CLIP image encoder with "
            "tiny RANDOM weights for tiny-random-sdxl, built by openkling for tests and "
            "demos.\n", encoding="utf-8")

    return _save_once(folder, "README.txt", write)
