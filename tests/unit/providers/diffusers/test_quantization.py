"""The `quantization` option: parsed and refused at start-up where it cannot run, counted in
the catalogue's memory estimate (cpu_offload and model 'auto'), and, with the tiny models on a
CPU, int8 weights in the loaded transformer that still render the video."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from openkling.providers.diffusers.catalogue import auto_model, find, offload_for
from openkling.providers.diffusers.model_options import parse_options
from openkling.providers.diffusers.quantization import check_quantization
from tests.support.diffusers import probe

WAN21 = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
A14B = "Wan-AI/Wan2.2-T2V-A14B-Diffusers"
GIB = 1024**3
# Wan 2.2 A14B as published: two 14,288,491,584-parameter experts, the 5,680,910,336-parameter
# UMT5-XXL encoder (bfloat16, 2 bytes) and the 126,892,531-parameter VAE (float32, 4 bytes).
EXPERT, TEXT, VAE = 14_288_491_584, 5_680_910_336, 126_892_531
# With model offload the largest component must fit in 85 % of the GPU: an int8 expert (1 byte
# a weight).
INT8_EDGE = EXPERT * 1 / 0.85
# Whole: both int8 experts, the encoder and the VAE.
INT8_WHOLE_EDGE = (2 * EXPERT + 2 * TEXT + 4 * VAE) / 0.85


def test_none_is_the_default_and_int8_parses_on_a_cpu() -> None:
    assert parse_options({"model": "tiny-random-wan"}).quantization == "none"
    options = parse_options({"model": "tiny-random-wan", "device": "cpu",
                             "quantization": "int8wo"})
    assert options.quantization == "int8wo"
    assert options.load_config()["quantization"] == "int8wo"


# int4wo is not offered (docs/providers.md, "Quantization").
@pytest.mark.parametrize("value", ["int3wo", "int8", "fp8", "", "int4wo"])
def test_an_unknown_value_is_refused_naming_the_option(value: str) -> None:
    with pytest.raises(ValueError, match="quantization"):
        parse_options({"model": "tiny-random-wan", "quantization": value})


def test_fp8_is_refused_on_a_cpu_and_taken_for_a_gpu() -> None:
    value = "fp8wo"
    with pytest.raises(ValueError, match=f"quantization: '{value}' needs a CUDA GPU"):
        parse_options({"model": "tiny-random-wan", "device": "cpu", "quantization": value})
    with pytest.raises(ValueError, match="quantization"):
        parse_options({"model": "tiny-random-wan", "devices": "cpu,cpu", "quantization": value})
    # A GPU (its capability read when the model process loads) or 'auto' parse.
    for device in ({"device": "cuda:0"}, {"device": "auto"}, {"devices": "0,1"}):
        assert parse_options({"model": "tiny-random-wan", "quantization": value,
                              **device}).quantization == value


def test_without_torchao_quantization_is_refused_at_parse(
        monkeypatch: pytest.MonkeyPatch) -> None:
    found = importlib.util.find_spec
    # As on a host where torchao is not installed (the library lookup, not openkling's code).
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *rest: None if name == "torchao" else found(name, *rest))
    with pytest.raises(ValueError, match="quantization: 'int8wo' needs torchao"):
        parse_options({"model": "tiny-random-wan", "device": "cpu", "quantization": "int8wo"})
    assert parse_options({"model": "tiny-random-wan", "device": "cpu"}).quantization == "none"


def test_fp8_needs_compute_capability_8_9() -> None:
    with pytest.raises(ValueError, match=r"quantization: 'fp8wo' needs a GPU of compute "
                                         r"capability 8\.9 or newer.*8\.6"):
        check_quantization("fp8wo", "cuda", (8, 6))
    check_quantization("fp8wo", "cuda", (8, 9))   # Ada
    check_quantization("fp8wo", "cuda", (9, 0))   # Hopper
    # int8 runs on any GPU, and on the CPU.
    check_quantization("int8wo", "cuda", (7, 5))
    check_quantization("int8wo", "cpu")


def test_quantized_transformers_shrink_the_memory_estimate() -> None:
    entry = find(A14B)
    assert entry is not None
    assert entry.memory_bytes(offload=False) == 2 * 2 * EXPERT + 2 * TEXT + 4 * VAE
    assert entry.memory_bytes(offload=False, quantization="int8wo") == (
        2 * EXPERT + 2 * TEXT + 4 * VAE)
    assert entry.memory_bytes(offload=False, quantization="fp8wo") == (
        2 * EXPERT + 2 * TEXT + 4 * VAE)
    assert entry.memory_bytes(offload=True, quantization="int8wo") == EXPERT


@pytest.mark.parametrize(("gpu_bytes", "quantization", "expected"), [
    (24 * GIB, "none", WAN21),                # a 24 GB card without: A14B does not fit
    (24 * GIB, "int8wo", A14B),               # with int8 weights it does (model offload)
    (int(INT8_EDGE) - 2, "int8wo", WAN21),
    (int(INT8_EDGE) + 2, "int8wo", A14B),
    (int(INT8_EDGE) + 2, "fp8wo", A14B),
])
def test_auto_picks_a_larger_model_that_fits_quantized(gpu_bytes: int, quantization: str,
                                                       expected: str) -> None:
    assert auto_model(gpu_bytes, quantization) == expected
    assert parse_options({"device": "cuda", "quantization": quantization},
                         gpu_memory=lambda devices: gpu_bytes).model == expected


def test_the_models_command_says_what_auto_picks_with_quantization() -> None:
    from openkling.cli.models_command import auto_pick

    def read(devices: object) -> int:
        return 24 * GIB

    assert auto_pick({"devices": "0", "quantization": "int8wo"}, read=read)["model"] == A14B
    assert auto_pick({"devices": "0"}, read=read)["model"] == WAN21


@pytest.mark.parametrize(("gpu_bytes", "quantization", "expected"), [
    (24 * GIB, "int8wo", "model"),
    (int(INT8_WHOLE_EDGE) - 2, "int8wo", "model"),
    (int(INT8_WHOLE_EDGE) + 2, "int8wo", "none"),
    (int(INT8_WHOLE_EDGE) + 2, "none", "model"),
    (12 * GIB, "int8wo", "sequential"),
])
def test_offload_auto_counts_quantized_weights(gpu_bytes: int, quantization: str,
                                               expected: str) -> None:
    assert offload_for(A14B, gpu_bytes, quantization) == expected


# The model process path: torch, diffusers and torchao on a CPU.
os.environ["HF_HUB_OFFLINE"] = "1"


def _load(tmp_path: Path, **options: str) -> object:
    pytest.importorskip("torchao")
    from openkling.providers.diffusers.pipeline import PipelineRunner

    parsed = parse_options({"device": "cpu", "quantization": "int8wo", **options})
    return PipelineRunner.load(parsed.load_config(), tmp_path)


def _int8_weights(transformer: object) -> list[str]:
    from torchao.quantization import Int8Tensor

    return [name for name, value in transformer.named_parameters()  # type: ignore[attr-defined]
            if isinstance(value, Int8Tensor)]


CALL = {
    "prompt": "a fox", "negative_prompt": "blur", "width": 80, "height": 48, "num_frames": 17,
    "num_inference_steps": 2, "guidance_scale": 5.0, "fps": 16, "seed": 3,
    "max_sequence_length": 32,
}


def test_int8_tiny_wan_has_int8_transformer_weights_and_renders(tmp_path: Path) -> None:
    runner = _load(tmp_path, model="tiny-random-wan")
    pipe = runner.pipe  # type: ignore[attr-defined]
    quantized = _int8_weights(pipe.transformer)
    # Every block's attention and feed-forward weights (the Linear layers) are int8.
    assert any(name.endswith("attn1.to_q.weight") for name in quantized)
    assert any(".ffn." in name for name in quantized)
    # The text encoder and the VAE are left as they were.
    assert not _int8_weights(pipe.text_encoder) and not _int8_weights(pipe.vae)
    result = runner.generate(CALL, tmp_path / "v.mp4",  # type: ignore[attr-defined]
                             lambda step, total: None, lambda: False)
    assert result["frames"] == 17
    info = probe(tmp_path / "v.mp4")
    assert info["codec"] == "h264" and info["frames"] == 17


def test_int8_quantizes_both_experts_of_the_built_in_a14b_form(tmp_path: Path) -> None:
    runner = _load(tmp_path, model="tiny-random-wan2.2-a14b")
    pipe = runner.pipe  # type: ignore[attr-defined]
    assert _int8_weights(pipe.transformer) and _int8_weights(pipe.transformer_2)


def test_int8_quantizes_a_model_built_on_the_device(tmp_path: Path) -> None:
    runner = _load(tmp_path, model="random-wan-small")
    assert _int8_weights(runner.pipe.transformer)  # type: ignore[attr-defined]


def test_a_pipeline_without_a_transformer_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="quantization: this pipeline has no transformer"):
        _load(tmp_path, model="tiny-random-sdxl")
