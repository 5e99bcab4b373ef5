"""The Kling request -> pipeline call table (docs/providers.md, "Local models (diffusers)")."""

from __future__ import annotations

import pytest

from openkling.core.errors import KlingError
from openkling.providers.diffusers.mapping import (
    frame_count,
    frame_size,
    guidance_scale,
    pipeline_call,
    seed_for,
)
from openkling.providers.diffusers.options import (
    DEFAULT_MODEL,
    DEFAULT_NEGATIVE_PROMPT,
    LOAD_FIELDS,
    DiffusersOptions,
    parse_options,
)
from tests.support.diffusers import make_spec


@pytest.mark.parametrize(
    ("ratio", "scale", "size"),
    [
        ("16:9", 1.0, (832, 480)),
        ("9:16", 1.0, (480, 832)),
        ("1:1", 1.0, (624, 624)),
        ("16:9", 1.5, (1248, 720)),
        ("9:16", 1.5, (720, 1248)),
        ("1:1", 1.5, (944, 944)),
    ],
)
def test_aspect_ratio_to_size_at_wan_480p(ratio: str, scale: float, size: tuple[int, int]) -> None:
    width, height = frame_size(ratio, 832, 480, scale)
    assert (width, height) == size
    assert width % 16 == 0 and height % 16 == 0


def test_tiny_model_sizes() -> None:
    assert frame_size("16:9", 80, 48) == (80, 48)
    assert frame_size("9:16", 80, 48) == (48, 80)
    assert frame_size("1:1", 80, 48) == (48, 48)


def test_unknown_aspect_ratio_is_a_kling_error() -> None:
    with pytest.raises(KlingError) as caught:
        frame_size("4:3", 832, 480)
    assert caught.value.code == 1201


@pytest.mark.parametrize(
    ("seconds", "fps", "step", "frames"),
    [(5, 16, 4, 81), (10, 16, 4, 161), (3, 16, 4, 49), (15, 16, 4, 241), (5, 8, 4, 41),
     (5, 24, 8, 121)],
)
def test_duration_to_frames(seconds: int, fps: int, step: int, frames: int) -> None:
    assert frame_count(seconds, fps, step) == frames
    assert (frames - 1) % step == 0


@pytest.mark.parametrize(("cfg", "guidance"), [(0.0, 1.0), (0.25, 3.0), (0.5, 5.0), (1.0, 9.0)])
def test_cfg_scale_to_guidance(cfg: float, guidance: float) -> None:
    assert guidance_scale(cfg, at_default=5.0, at_zero=1.0) == pytest.approx(guidance)


def test_the_whole_call_for_wan_defaults() -> None:
    call = pipeline_call(make_spec("7001"), DiffusersOptions())
    assert (call.width, call.height, call.num_frames) == (832, 480, 81)
    assert call.num_inference_steps == 30
    assert call.guidance_scale == 5.0
    assert call.negative_prompt == DEFAULT_NEGATIVE_PROMPT
    assert call.fps == 16
    assert call.duration == 81 / 16
    assert call.seed == seed_for("7001")


def test_pro_mode_is_the_pro_preset() -> None:
    options = parse_options({"pro_steps": "40", "pro_scale": "1.5"})
    call = pipeline_call(make_spec(mode="pro", aspect_ratio="9:16", duration=10), options)
    assert (call.width, call.height, call.num_frames) == (720, 1248, 161)
    assert call.num_inference_steps == 40


def test_negative_prompt_passes_through() -> None:
    call = pipeline_call(make_spec(negative_prompt="rain"), DiffusersOptions())
    assert call.negative_prompt == "rain"


def test_seed_is_stable_per_task_unless_fixed() -> None:
    assert seed_for("7532547098616348672") == seed_for("7532547098616348672")
    assert seed_for("1") != seed_for("2")
    assert 0 <= seed_for("not-digits") < 2**32
    assert pipeline_call(make_spec(), parse_options({"seed": 42})).seed == 42


def test_options_coerce_strings_from_the_environment() -> None:
    options = parse_options({"std_steps": "12", "vae_tiling": "true", "guidance_default": "6"})
    assert options.std_steps == 12 and options.vae_tiling is True
    assert options.guidance_default == 6.0
    assert options.model == DEFAULT_MODEL


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"width": 830}, "width: Value error, must be a multiple of 16"),
        ({"device": "tpu"}, "device"),
        ({"cpu_offload": "always"}, "cpu_offload"),
        ({"steps": 3}, "steps: Extra inputs are not permitted"),
    ],
)
def test_bad_options_say_which_and_why(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match="invalid diffusers provider options") as caught:
        parse_options(raw)
    assert message in str(caught.value)


def test_tiny_model_defaults_and_overrides() -> None:
    tiny = parse_options({"model": "tiny-random-wan"})
    assert (tiny.width, tiny.height, tiny.std_steps) == (80, 48, 2)
    assert parse_options({"model": "tiny-random-wan", "std_steps": 7}).std_steps == 7
    # `openkling serve --model` sets `model_id`: the same option.
    assert parse_options({"model_id": "tiny-random-wan"}) == tiny


def test_route_overrides_merge_per_task_fields() -> None:
    base = parse_options({"model": "tiny-random-wan", "device": "cpu"})
    merged = base.merged({"std_steps": 9})
    assert merged.std_steps == 9
    assert merged.load_config() == base.load_config()
    assert set(base.load_config()) == set(LOAD_FIELDS)
