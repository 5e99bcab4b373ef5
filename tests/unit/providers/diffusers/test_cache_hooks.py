"""The `cache` option: each diffusers hook parsed, refused where it cannot run, and registered
on the tiny models' transformers."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from openkling.providers.diffusers.model_options import parse_options

os.environ["HF_HUB_OFFLINE"] = "1"
torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from diffusers.hooks import HookRegistry  # noqa: E402

from openkling.providers.diffusers.pipeline import PipelineRunner  # noqa: E402

# diffusers' hook names (diffusers/hooks/*.py), as registered on the blocks.
FIRST_BLOCK = "fbc_leader_block_hook"
TAYLORSEER = "taylorseer_cache"
MAG = "mag_cache_leader_block_hook"


def _load(tmp_path: Path, model: str, **options: Any) -> PipelineRunner:
    parsed = parse_options({"model": model, "device": "cpu", "cpu_threads": 1, **options})
    return PipelineRunner.load(parsed.load_config(), tmp_path)


def _hooks(module: Any) -> set[str]:
    registry = getattr(module, "_diffusers_hook", None)
    return set(registry.hooks) if isinstance(registry, HookRegistry) else set()


CALL = {"prompt": "a fox", "negative_prompt": "blur", "width": 80, "height": 48,
        "num_frames": 9, "num_inference_steps": 6, "guidance_scale": 5.0, "fps": 16,
        "seed": 3, "max_sequence_length": 16}


# --- options --------------------------------------------------------------------------------

@pytest.mark.parametrize("options", [
    {"cache": "first_block", "cache_threshold": 0.1},
    {"cache": "taylorseer", "cache_interval": 2, "cache_warmup_steps": 0, "cache_max_order": 2},
    {"cache": "mag", "cache_calibrate": True},
    {"cache": "mag", "cache_mag_ratios": [1.0, 0.99, 0.98], "cache_threshold": 0.1,
     "cache_max_skip_steps": 2, "cache_retention_ratio": 0.0},
])
def test_each_hook_with_its_options_parses(options: dict[str, Any]) -> None:
    parsed = parse_options({"model": "tiny-random-wan", **options})
    assert parsed.load_config()["cache"] == options["cache"]
    for key, value in options.items():
        assert parsed.load_config()[key] == value


def test_mag_ratios_from_an_environment_string() -> None:
    parsed = parse_options({"cache": "mag", "cache_mag_ratios": "[1.0, 0.98,0.95]"})
    assert parsed.cache_mag_ratios == [1.0, 0.98, 0.95]


@pytest.mark.parametrize(("options", "named"), [
    ({"cache": "fastercache"}, "cache"),
    ({"cache": "first_block", "cache_interval": 2}, "cache_interval"),
    ({"cache": "taylorseer", "cache_threshold": 0.1}, "cache_threshold"),
    ({"cache": "none", "cache_calibrate": True}, "cache_calibrate"),
    ({"cache": "mag"}, "cache_mag_ratios"),
    ({"cache": "mag", "cache_mag_ratios": [1.0]}, "cache_mag_ratios"),
    ({"cache": "mag", "cache_mag_ratios": "1.0, x"}, "cache_mag_ratios"),
    ({"cache": "taylorseer", "cache_max_order": 0}, "cache_max_order"),
    ({"cache": "mag", "cache_calibrate": True, "cache_retention_ratio": 1.5},
     "cache_retention_ratio"),
    ({"cache": "first_block", "cache_threshold": 0}, "cache_threshold"),
])
def test_bad_cache_options_are_refused_by_name(options: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=rf"\b{named}\b"):
        parse_options({"model": "tiny-random-wan", **options})


# --- applied on the tiny models ------------------------------------------------------------

@pytest.mark.parametrize(("cache", "hook", "extra"), [
    ("first_block", FIRST_BLOCK, {}),
    ("taylorseer", TAYLORSEER, {}),
    ("mag", MAG, {"cache_mag_ratios": [1.0, 1.0, 0.99, 0.98]}),
])
def test_each_hook_is_registered_on_wan_and_renders(tmp_path: Path, cache: str, hook: str,
                                                   extra: dict[str, Any]) -> None:
    runner = _load(tmp_path, "tiny-random-wan", cache=cache, **extra)
    transformer = runner.pipe.transformer
    assert transformer.is_cache_enabled
    assert hook in _hooks(transformer.blocks[0])
    result = runner.generate(CALL, tmp_path / "v.mp4", lambda s, t: None, lambda: False)
    assert result["frames"] == 9


def test_taylorseer_skips_the_blocks_and_predicts_the_output(tmp_path: Path) -> None:
    transformer = _load(tmp_path, "tiny-random-wan", cache="taylorseer").pipe.transformer
    hooked = {name for name, module in transformer.named_modules() if TAYLORSEER in
              _hooks(module)}
    assert hooked == {f"blocks.{i}" for i in range(len(transformer.blocks))} | {"proj_out"}


def test_mag_ratios_follow_each_calls_step_count(tmp_path: Path) -> None:
    runner = _load(tmp_path, "tiny-random-wan", cache="mag",
                   cache_mag_ratios=[1.0, 1.0, 0.99, 0.98])
    runner.generate(CALL, tmp_path / "v.mp4", lambda s, t: None, lambda: False)
    config = runner.pipe.transformer._cache_config
    assert config.num_inference_steps == 6 and len(config.mag_ratios) == 6
    runner.generate({**CALL, "num_inference_steps": 3}, tmp_path / "w.mp4", lambda s, t: None,
                    lambda: False)
    assert config.num_inference_steps == 3 and len(config.mag_ratios) == 3


def test_mag_calibration_logs_the_ratios_to_set(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    runner = _load(tmp_path, "tiny-random-wan", cache="mag", cache_calibrate=True)
    with caplog.at_level(logging.WARNING, logger="openkling.providers.diffusers.cache_hooks"):
        runner.generate(CALL, tmp_path / "v.mp4", lambda s, t: None, lambda: False)
    lines = [r.getMessage() for r in caplog.records if "cache_mag_ratios = [" in r.getMessage()]
    assert lines
    ratios = lines[0].split("cache_mag_ratios = ")[1].split("]")[0]
    assert len(ratios.split(",")) == 6
    # What it logs parses as the option.
    parse_options({"cache": "mag", "cache_mag_ratios": ratios + "]"})


def test_both_experts_of_wan22_a14b_take_first_block_and_taylorseer(tmp_path: Path) -> None:
    for cache, hook in (("first_block", FIRST_BLOCK), ("taylorseer", TAYLORSEER)):
        pipe = _load(tmp_path, "tiny-random-wan2.2-a14b", cache=cache).pipe
        for expert in (pipe.transformer, pipe.transformer_2):
            assert hook in _hooks(expert.blocks[0])


def test_mag_is_refused_with_two_experts(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^cache: 'mag' .* two experts"):
        _load(tmp_path, "tiny-random-wan2.2-a14b", cache="mag", cache_calibrate=True)


@pytest.mark.slow
@pytest.mark.parametrize("cache", ["first_block", "mag"])
def test_block_hooks_are_refused_on_ltx2(tmp_path: Path, cache: str) -> None:
    with pytest.raises(ValueError, match=rf"^cache: '{cache}' does not support "
                                         r"LTX2VideoTransformer3DModel"):
        _load(tmp_path, "tiny-random-ltx2", cache=cache,
              **({"cache_calibrate": True} if cache == "mag" else {}))


@pytest.mark.slow
def test_taylorseer_on_ltx2_predicts_video_and_audio_outputs(tmp_path: Path) -> None:
    transformer = _load(tmp_path, "tiny-random-ltx2", cache="taylorseer").pipe.transformer
    assert TAYLORSEER in _hooks(transformer.proj_out)
    assert TAYLORSEER in _hooks(transformer.audio_proj_out)
    assert TAYLORSEER in _hooks(transformer.transformer_blocks[0])


@pytest.mark.slow
@pytest.mark.parametrize(("cache", "hook"), [("first_block", FIRST_BLOCK),
                                             ("taylorseer", TAYLORSEER)])
def test_qwen_image_takes_the_hooks(tmp_path: Path, cache: str, hook: str) -> None:
    from openkling.providers.diffusers.families import image_options, images_call

    runner = PipelineRunner.load(
        {"model": "tiny-random-qwen-image", "pipeline": "auto", "device": "cpu",
         "dtype": "float32", "cpu_threads": 1, "vae_fp32": True, "cpu_offload": "none",
         "cache": cache}, tmp_path)
    assert hook in _hooks(runner.pipe.transformer.transformer_blocks[0])
    call = images_call(prompt="a fox", negative_prompt="blur", aspect_ratio="1:1",
                       resolution="1k", n=1, image_path=None, image_fidelity=0.5, seed=1,
                       options=image_options({"model": "tiny-random-qwen-image"}, tiny=True))
    result = runner.generate(call.to_dict(), tmp_path / "img", lambda s, t: None,
                             lambda: False)
    assert len(result["images"]) == 1
