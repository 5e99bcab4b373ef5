"""The rules from OpenAI's model / size / seconds to Kling's (docs/api.md, "OpenAI: models,
sizes, durations"), each boundary from both sides."""

from __future__ import annotations

import pytest

from openkling.api.openai.mapping import MappingError, map_model, map_seconds, map_size
from openkling.config import Settings

ALIASES = {"sora-2": "kling-v1", "sora-2-pro": "kling-v2-6"}
SERVED = ["kling-v1", "kling-v2-6", "kling-v3"]


def refused(param: str) -> pytest.RaisesContext[MappingError]:
    return pytest.raises(MappingError, match=f"^{param}: ")


def test_the_default_setting_maps_sora_names_to_kling_v1() -> None:
    assert Settings().openai_models == {"sora-2": "kling-v1", "sora-2-pro": "kling-v1"}


@pytest.mark.parametrize(("name", "model"), [
    ("sora-2", "kling-v1"), ("sora-2-pro", "kling-v2-6"),
    ("sora-2-2025-10-06", "kling-v1"), ("sora-2-pro-2025-10-06", "kling-v2-6"),
    ("kling-v3", "kling-v3"),  # a name this server serves maps to itself
])
def test_model_names_map(name: str, model: str) -> None:
    assert map_model(name, ALIASES, SERVED) == model


@pytest.mark.parametrize("name", ["sora-3", "sora-2-2025-10", "sora-2-turbo-2025-10-06", ""])
def test_unknown_model_names_are_refused_naming_model(name: str) -> None:
    with refused("model") as error:
        map_model(name, ALIASES, SERVED)
    assert error.value.param == "model"


@pytest.mark.parametrize(("size", "aspect", "mode"), [
    ("1280x720", "16:9", "std"), ("720x1280", "9:16", "std"),
    ("1792x1024", "16:9", "pro"), ("1024x1792", "9:16", "pro"),
    ("1024x1024", "1:1", "std"), ("1920x1080", "16:9", "pro"),
    ("1280x1280", "1:1", "std"),  # longer side 1280: still std
    ("1282x1282", "1:1", "pro"),  # just over
    ("256x256", "1:1", "std"), ("1920x1920", "1:1", "pro"),  # the side limits, inside
    ("1000x1020", "1:1", "std"),  # 1.96 % off 1:1: inside the 2 % tolerance
])
def test_sizes_map_to_aspect_ratio_and_mode(size: str, aspect: str, mode: str) -> None:
    rule = map_size(size)
    assert (rule.aspect_ratio, rule.mode) == (aspect, mode)


@pytest.mark.parametrize("size", [
    "1280x1000",            # no Kling aspect ratio near 1.28
    "1000x1030",            # 2.9 % off 1:1: outside the tolerance
    "255x255", "1921x1921",  # one pixel outside each side limit
    "1280*720", "1280x", "x720", "1280x720 ", "-1280x720", "", "big",
])
def test_sizes_no_provider_can_make_are_refused_naming_size(size: str) -> None:
    with refused("size"):
        map_size(size)


@pytest.mark.parametrize(("seconds", "durations", "expected"), [
    ("4", (5, 10), 5), ("5", (5, 10), 5), ("6", (5, 10), 10), ("8", (5, 10), 10),
    ("10", (5, 10), 10), ("4", tuple(range(3, 16)), 4), ("12", tuple(range(3, 16)), 12),
    ("1", (5, 10), 5), ("3", (3,), 3),
])
def test_seconds_map_to_the_shortest_duration_at_least_as_long(
        seconds: str, durations: tuple[int, ...], expected: int) -> None:
    assert map_seconds(seconds, durations, "m") == expected


@pytest.mark.parametrize(("seconds", "durations"), [
    ("11", (5, 10)), ("12", (5, 10)), ("16", tuple(range(3, 16))),  # longer than offered
    ("0", (5, 10)), ("61", tuple(range(1, 100))),  # outside 1..60
    ("4.5", (5, 10)), ("four", (5, 10)), ("", (5, 10)), ("-4", (5, 10)), ("٤", (5, 10)),
])
def test_seconds_no_model_offers_are_refused_naming_seconds(
        seconds: str, durations: tuple[int, ...]) -> None:
    with refused("seconds"):
        map_seconds(seconds, durations, "m")


def test_sixty_seconds_is_the_last_accepted() -> None:
    assert map_seconds("60", tuple(range(1, 100)), "m") == 60
