"""The built-in random Wan models: the full-size one has the published architecture."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from openkling.providers.diffusers.model_options import parse_options  # noqa: E402
from openkling.providers.diffusers.random_models import (  # noqa: E402
    WAN21_T2V_1_3B,
    WAN_SMALL,
    build_random_wan,
    parameter_counts,
)


def test_full_size_random_wan_has_the_published_parameter_counts() -> None:
    # Built on the meta device: no memory. The published sizes: a "1.3B" transformer
    # (1.42e9 counted), the UMT5-XXL encoder (5.7e9) and the Wan 2.1 VAE (1.27e8).
    counts = parameter_counts(build_random_wan(WAN21_T2V_1_3B, "meta", torch.bfloat16))
    assert 1.3e9 < counts["transformer"] < 1.5e9
    assert 5.6e9 < counts["text_encoder"] < 5.8e9
    assert 1.2e8 < counts["vae"] < 1.35e8


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
