"""Kling videos/video-extend requests -> LTX-Video continuation calls (pure, no torch).

The fields and limits are Kling's (kling-api.md: `video_id` of an earlier result, `prompt`,
`negative_prompt`, `cfg_scale`; its reference: prompts <= 2500 characters, cfg_scale in
[0, 1], the extended video at most 3 minutes). Each limit is tested on both sides; every
other field that asks for something is refused naming it."""

from __future__ import annotations

from typing import Any

import pytest

from openkling.core.errors import KlingError
from openkling.providers.diffusers.extend import (
    ExtendOptions,
    added_frames,
    conditioning_frames,
    extend_call,
    extend_options,
    render_size,
)

REAL = ExtendOptions()
TINY = extend_options({}, tiny=True)
VIDEO = "0b4a6f4e-9f7c-5d0e-8a7b-1c2d3e4f5a6b"


def stored(**fields: Any) -> dict[str, Any]:
    """A stored request whose `video_id` resolved at create to a stored 5.06 s video."""
    return {"routed_model": "kling-v1", "video_id": VIDEO,
            "input_videos": {"video_id": {"video_id": VIDEO, "task_id": "866889456698785798",
                                          "duration": 5.062,
                                          "key": f"videos/866889456698785798/{VIDEO}.mp4"}},
            **fields}


def call(request: dict[str, Any], options: ExtendOptions = REAL) -> Any:
    return extend_call(request, video_path="/w/video_id.mp4", seed=7, options=options)


def refused(request: dict[str, Any], options: ExtendOptions = REAL) -> KlingError:
    with pytest.raises(KlingError) as caught:
        call(request, options)
    assert (caught.value.http_status, caught.value.code) == (400, 1201)
    return caught.value


def test_the_defaults_map_to_ltx_video() -> None:
    made = call(stored())
    assert made.kind == "extend"
    assert (made.prompt, made.negative_prompt) == ("", REAL.negative_prompt)
    assert made.video_path == "/w/video_id.mp4" and made.seed == 7
    assert made.num_inference_steps == REAL.std_steps
    assert made.guidance_scale == REAL.guidance_default  # cfg_scale 0.5
    assert (made.seconds, made.condition_frames) == (5.0, 25)
    assert made.to_dict()["kind"] == "extend"


def test_prompts_cfg_scale_and_mode_are_honoured() -> None:
    made = call(stored(prompt="the fox runs on", negative_prompt="blur", cfg_scale=1,
                       mode="pro"))
    assert (made.prompt, made.negative_prompt) == ("the fox runs on", "blur")
    assert made.guidance_scale == 2 * REAL.guidance_default - REAL.guidance_min
    assert made.num_inference_steps == REAL.pro_steps
    assert call(stored(cfg_scale=0)).guidance_scale == REAL.guidance_min


@pytest.mark.parametrize("name", ["prompt", "negative_prompt"])
def test_prompts_up_to_2500_characters(name: str) -> None:
    assert getattr(call(stored(**{name: "x" * 2500})), name) == "x" * 2500
    assert refused(stored(**{name: "x" * 2501})).message.startswith(f"{name}: ")
    assert refused(stored(**{name: 5})).message.startswith(f"{name}: ")


@pytest.mark.parametrize("good", [0, 0.0, 0.25, 1, 1.0])
def test_cfg_scale_in_zero_to_one_is_taken(good: float) -> None:
    call(stored(cfg_scale=good))


@pytest.mark.parametrize("bad", [-0.01, 1.01, True, "0.5", float("nan")])
def test_cfg_scale_outside_zero_to_one_is_refused(bad: object) -> None:
    assert refused(stored(cfg_scale=bad)).message.startswith("cfg_scale: ")


@pytest.mark.parametrize("bad", ["fast", "PRO", 1])
def test_an_unknown_mode_is_refused(bad: object) -> None:
    assert refused(stored(mode=bad)).message.startswith("mode: ")


@pytest.mark.parametrize(("name", "value"), [
    ("duration", 5), ("aspect_ratio", "16:9"), ("camera_control", {"type": "down_back"}),
    ("image", "https://example.com/a.png"), ("sound", "on"), ("model_extra", 1),
])
def test_any_other_field_that_asks_for_something_is_refused(name: str, value: object) -> None:
    assert refused(stored(**{name: value})).message.startswith(f"{name}: ")


@pytest.mark.parametrize(("name", "value"), [
    ("sound", "off"), ("watermark_info", {"enabled": False}), ("negative_prompt", None),
    ("aspect_ratio", ""),
])
def test_values_that_ask_for_nothing_are_accepted(name: str, value: object) -> None:
    call(stored(**{name: value}))


def test_video_id_is_required() -> None:
    request = stored()
    del request["video_id"]
    assert refused(request).message.startswith("video_id: is required")
    assert refused(stored(video_id="")).message.startswith("video_id: is required")
    assert refused(stored(video_id=123)).message.startswith("video_id: ")


def test_a_video_id_not_resolved_at_create_is_not_found() -> None:
    """Unknown, or another account's: the create's lookup found nothing for it."""
    request = stored()
    del request["input_videos"]
    message = refused(request).message
    assert message.startswith("video_id: ") and "among this account's" in message


def test_a_resolution_for_another_id_is_not_taken() -> None:
    """The stored lookup must be for the id the request names (a stored request edited by a
    client's own `input_videos` field never reaches here: the service drops it)."""
    assert refused(stored(video_id="other")).message.startswith("video_id: ")


def test_a_video_only_hosted_elsewhere_is_refused() -> None:
    request = stored()
    del request["input_videos"]["video_id"]["key"]
    request["input_videos"]["video_id"]["url"] = "https://cdn.example/v.mp4"
    assert "hosted elsewhere" in refused(request).message


def test_the_extended_video_lasts_at_most_three_minutes() -> None:
    """Kling: at most 3 minutes after the extension (source + the 5 s continuation)."""
    def lasting(seconds: float) -> dict[str, Any]:
        request = stored()
        request["input_videos"]["video_id"]["duration"] = seconds
        return request

    call(lasting(175.0))
    message = refused(lasting(175.1)).message
    assert message.startswith("video_id: ") and "at most 180 s" in message


def test_the_tiny_model_with_the_tiny_video_models() -> None:
    assert TINY.model == "tiny-random-ltx-video"
    assert (TINY.std_steps, TINY.condition_frames) == (2, 9)
    assert REAL.model == "Lightricks/LTX-Video-0.9.5"
    assert REAL.pipeline == "LTXConditionPipeline"


@pytest.mark.parametrize(("seconds", "fps", "temporal", "frames"), [
    (5.0, 16, 8, 80), (5.0, 24, 8, 120), (5.0, 25, 8, 128), (4.5, 30, 8, 136), (0.1, 16, 8, 8),
])
def test_the_continuation_is_whole_latent_frames_rounded_up(seconds: float, fps: int,
                                                            temporal: int, frames: int) -> None:
    assert added_frames(seconds, fps, temporal) == frames
    assert frames % temporal == 0 and frames >= seconds * fps


@pytest.mark.parametrize(("available", "wanted", "frames"), [
    (81, 25, 25), (81, 24, 17), (81, 9, 9), (12, 25, 9), (8, 25, 1), (1, 25, 1), (81, 1, 1),
])
def test_conditioning_frames_are_8k_plus_1(available: int, wanted: int, frames: int) -> None:
    assert conditioning_frames(available, wanted, 8) == frames


def test_the_render_size_keeps_the_source_shape_in_multiples_of_32() -> None:
    assert render_size(832, 480, 768 * 512, 32) == (832, 480)
    width, height = render_size(80, 48, 64 * 32, 32)
    assert width % 32 == 0 == height % 32 and width > height
