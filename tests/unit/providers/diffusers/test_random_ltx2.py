"""`random-ltx2`: LTX-2 at its published size (a 19B audio-video transformer, Gemma 3 12B),
random weights, built on the device; counted here on the 'meta' device (no memory)."""

from __future__ import annotations

import pytest

from openkling.core.models import GenerationSpec
from openkling.providers.diffusers.catalogue import BY_NAME, GIB, listing, makes_audio
from openkling.providers.diffusers.mapping import pipeline_call
from openkling.providers.diffusers.model_options import BUILT_ON_DEVICE, parse_options

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")


@pytest.mark.slow
def test_the_meta_build_has_ltx2s_published_size_and_the_catalogues_counts() -> None:
    from openkling.providers.diffusers.random_models import build_random_ltx2, parameter_counts

    pipe = build_random_ltx2("meta", torch.bfloat16)
    assert type(pipe).__name__ == "LTX2Pipeline"
    counts = parameter_counts(pipe)
    # LTX-2 is published as a 19B model; its text encoder is Gemma 3 12B.
    assert 18.5e9 < counts["transformer"] < 19.5e9
    assert 11.8e9 < counts["text_encoder"] < 12.5e9
    assert 1e9 < counts["vae"] < 2e9
    assert counts == BY_NAME["random-ltx2"].parameters
    # The video VAE compresses 32x in space and 8x in time; the vocoder makes 24 kHz sound.
    assert (pipe.vae_spatial_compression_ratio, pipe.vae_temporal_compression_ratio) == (32, 8)
    assert pipe.vocoder.config.output_sampling_rate == 24000


def test_the_catalogue_lists_it_as_a_built_in_model_with_sound() -> None:
    rows = {row["name"]: row for row in listing({"model": "random-ltx2"},
                                                {"kling-v1": {}})}
    row = rows["random-ltx2"]
    assert row["served"] and row["built_in"] and row["audio"]
    assert row["pipeline"] == "LTX2Pipeline" and row["test_model"] == "tiny-random-ltx2"
    # Weights: 37.8e9 + 24.4e9 + 2.9e9 bytes in bfloat16 (transformer, Gemma, connectors),
    # the video VAE (1.2e9) in float32, the audio VAE and the vocoder: 65.3 GiB; offloaded,
    # the transformer alone.
    assert (row["memory_gib"], row["memory_offload_gib"]) == (65.3, 35.2)
    assert makes_audio("random-ltx2")
    assert "random-ltx2" in BUILT_ON_DEVICE
    # With int8 transformer weights, 18.9e9 bytes fewer.
    entry = BY_NAME["random-ltx2"]
    saved = entry.memory_bytes(False) - entry.memory_bytes(False, "int8wo")
    assert saved == entry.parameters["transformer"]
    assert round(entry.memory_bytes(False, "int8wo") / GIB, 1) == 47.7


def test_kling_5s_at_480p_maps_to_121_frames_at_24_fps() -> None:
    options = parse_options({"model": "random-ltx2", "device": "cpu"})
    spec = GenerationSpec(task_id="1", model_name="kling-v1", prompt="a fox",
                          negative_prompt=None, cfg_scale=0.5, mode="std",
                          aspect_ratio="16:9", duration=5)
    call = pipeline_call(spec, options).to_dict()
    assert (call["width"], call["height"], call["num_frames"], call["fps"]) == (832, 480, 121,
                                                                               24)
    assert call["width"] % 32 == 0 and call["height"] % 32 == 0
    assert call["guidance_scale"] == 3.0 and call["max_sequence_length"] == 1024


@pytest.mark.parametrize(("model", "ratio"), [("random-ltx2", "1:1"), ("random-ltx2", "9:16"),
                                              ("tiny-random-ltx2", "1:1")])
def test_every_kling_ratio_maps_to_sides_ltx2_takes(model: str, ratio: str) -> None:
    """LTX-2 refuses a side that is not a multiple of 32 (Wan's 16 gave 1:1 624x624)."""
    options = parse_options({"model": model, "device": "cpu"})
    spec = GenerationSpec(task_id="1", model_name="kling-v1", prompt="a fox",
                          negative_prompt=None, cfg_scale=0.5, mode="std",
                          aspect_ratio=ratio, duration=5)
    call = pipeline_call(spec, options).to_dict()
    assert call["width"] % 32 == 0 and call["height"] % 32 == 0
    if model == "random-ltx2" and ratio == "1:1":
        assert (call["width"], call["height"]) == (608, 608)  # about 832x480's area
