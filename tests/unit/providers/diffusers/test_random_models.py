"""The built-in random Wan models: the full-size one has the published architecture."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from openkling.providers.diffusers.model_options import parse_options  # noqa: E402
from openkling.providers.diffusers.random_models import (  # noqa: E402
    SDXL_BASE_1_0,
    WAN21_T2V_1_3B,
    WAN22_TI2V_5B,
    WAN_SMALL,
    build_random_sdxl,
    build_random_wan,
    build_random_wan_i2v,
    parameter_counts,
)


def test_full_size_random_wan_has_the_published_parameter_counts() -> None:
    # Built on the meta device: no memory. The published sizes: a "1.3B" transformer
    # (1.42e9 counted), the UMT5-XXL encoder (5.7e9) and the Wan 2.1 VAE (1.27e8).
    counts = parameter_counts(build_random_wan(WAN21_T2V_1_3B, "meta", torch.bfloat16))
    assert 1.3e9 < counts["transformer"] < 1.5e9
    assert 5.6e9 < counts["text_encoder"] < 5.8e9
    assert 1.2e8 < counts["vae"] < 1.35e8


def test_full_size_random_ti2v_5b_has_the_published_parameter_counts() -> None:
    # A "5B" transformer, the same UMT5-XXL encoder, and the Wan 2.2 VAE (2.8 GB in fp32).
    pipe = build_random_wan_i2v(WAN22_TI2V_5B, "meta", torch.bfloat16)
    assert type(pipe).__name__ == "WanImageToVideoPipeline"
    counts = parameter_counts(pipe)
    assert 4.9e9 < counts["transformer"] < 5.1e9
    assert 5.6e9 < counts["text_encoder"] < 5.8e9
    assert 6.9e8 < counts["vae"] < 7.2e8
    assert pipe.vae_scale_factor_spatial == 16 and pipe.transformer.config.in_channels == 48


def test_full_size_random_sdxl_has_the_published_parameter_counts() -> None:
    # stable-diffusion-xl-base-1.0's published sizes: UNet 2,567,463,684 parameters, CLIP
    # ViT-L text 123,060,480, OpenCLIP bigG text 694,659,840, VAE 83,653,863.
    counts = parameter_counts(build_random_sdxl(SDXL_BASE_1_0, "meta", torch.float16))
    assert counts == {"unet": 2567463684, "text_encoder": 123060480,
                      "text_encoder_2": 694659840, "vae": 83653863}


def test_full_size_random_model_keeps_wans_480p_mapping() -> None:
    options = parse_options({"model": "random-wan2.1-1.3b"})
    assert (options.width, options.height, options.fps) == (832, 480, 16)
    assert options.max_sequence_length == 512


def test_small_random_model_is_a_wan_pipeline_with_every_component() -> None:
    pipe = build_random_wan(WAN_SMALL)
    assert type(pipe).__name__ == "WanPipeline"
    assert pipe.transformer.config.text_dim == pipe.text_encoder.config.d_model
    options = parse_options({"model": "random-wan-small"})
    assert (options.width, options.height, options.fps) == (96, 64, 2)
