"""Kling audio/text-to-audio requests -> Stable Audio pipeline calls (pure, no torch).

The limits are Kling's (kling-api.md; Kling's reference: `prompt` <= 200 characters,
`duration` 3.0..10.0 s with at most one decimal): each is tested on both sides."""

from __future__ import annotations

import pytest

from openkling.core.errors import KlingError
from openkling.providers.diffusers.families import (
    AudioOptions,
    audio_options,
    text_to_audio_call,
)

REAL = AudioOptions()
TINY = audio_options({}, tiny=True)


def refused(request: dict[str, object], options: AudioOptions = REAL) -> KlingError:
    with pytest.raises(KlingError) as caught:
        text_to_audio_call(request, seed=1, options=options)
    assert (caught.value.http_status, caught.value.code) == (400, 1201)
    return caught.value


@pytest.mark.parametrize(("sent", "seconds"), [
    (3, 3.0), (3.0, 3.0), ("3.0", 3.0), (10, 10.0), ("10.0", 10.0), (3.5, 3.5), ("7.2", 7.2),
])
def test_durations_inside_klings_range_are_the_sound_length(sent: object,
                                                             seconds: float) -> None:
    call = text_to_audio_call({"prompt": "rain", "duration": sent}, seed=3, options=REAL)
    assert call.seconds == seconds
    assert (call.prompt, call.seed, call.kind) == ("rain", 3, "audio")
    assert (call.num_inference_steps, call.guidance_scale) == (REAL.steps, REAL.guidance)


@pytest.mark.parametrize("sent", [2.9, "2.9", 0, -3, 10.1, "10.1", 11, 3.55, "abc", True,
                                  [5], "nan", "inf"])
def test_durations_outside_klings_range_are_refused_naming_duration(sent: object) -> None:
    assert refused({"prompt": "rain", "duration": sent}).message.startswith("duration: ")


def test_duration_is_required() -> None:
    assert refused({"prompt": "rain"}).message.startswith("duration: is required")


def test_the_prompt_is_required_and_at_most_200_characters() -> None:
    assert text_to_audio_call({"prompt": "x" * 200, "duration": 5}, seed=1,
                              options=REAL).prompt == "x" * 200
    assert refused({"prompt": "x" * 201, "duration": 5}).message.startswith("prompt: ")
    assert refused({"prompt": "  ", "duration": 5}).message.startswith("prompt: ")
    assert refused({"duration": 5}).message.startswith("prompt: ")


@pytest.mark.parametrize("field", ["negative_prompt", "sound_effect_prompt", "n", "seed"])
def test_any_other_field_is_refused_naming_it(field: str) -> None:
    message = refused({"prompt": "rain", "duration": 5, field: 2}).message
    assert message.startswith(f"{field}: not supported by the local diffusers provider")


def test_the_servers_own_fields_are_accepted() -> None:
    request = {"prompt": "rain", "duration": 5, "routed_model": "kling-v1",
               "model_name": "kling-v1"}
    assert text_to_audio_call(request, seed=1, options=REAL).seconds == 5.0


def test_a_model_shorter_than_the_duration_refuses_it() -> None:
    short = AudioOptions(max_seconds=6.0)
    assert text_to_audio_call({"prompt": "rain", "duration": 6}, seed=1,
                              options=short).seconds == 6.0
    assert "at most 6.0 s" in refused({"prompt": "rain", "duration": 6.1}, short).message


def test_the_tiny_model_takes_every_kling_duration_in_few_steps() -> None:
    assert TINY.model == "tiny-random-stable-audio" and TINY.steps <= 2
    assert text_to_audio_call({"prompt": "rain", "duration": 10}, seed=1,
                              options=TINY).seconds == 10.0
