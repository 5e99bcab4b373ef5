"""Kling's model names and each family's body limit, against the contract (kling-api.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from openkling.config import Settings
from openkling.core.families import FAMILIES, body_limits
from openkling.core.registry import ModelRegistry

#: "Model names clients send by default (accept them; on the relay forward them)".
CONTRACT_VIDEO = ("kling-v1", "kling-v1-5", "kling-v1-6", "kling-v2-master", "kling-v2-1",
                  "kling-v2-1-master", "kling-v2-5-turbo", "kling-v2-6", "kling-v3",
                  "kling-video-o1")
CONTRACT_IMAGES = ("kling-v1", "kling-v1-5", "kling-v2", "kling-v2-new", "kling-v2-1",
                   "kling-image-o1")
CONTRACT_TRY_ON = ("kolors-virtual-try-on-v1", "kolors-virtual-try-on-v1-5")
MB = 1024 * 1024


@pytest.mark.parametrize("name", sorted({*CONTRACT_VIDEO, *CONTRACT_IMAGES, *CONTRACT_TRY_ON}))
def test_every_kling_model_name_is_served_by_the_default_provider(name: str,
                                                                   tmp_path: Path) -> None:
    registry = ModelRegistry(Settings(data_dir=tmp_path, provider="kling"))
    assert registry.resolve(name).provider == "kling"


def test_a_configured_model_overrides_a_kling_name(tmp_path: Path) -> None:
    registry = ModelRegistry(Settings(data_dir=tmp_path, models={
        "kling-video-o1": {"provider": "kling", "durations": [5]}}))
    resolved = registry.resolve("kling-video-o1")
    assert (resolved.provider, resolved.durations) == ("kling", (5,))
    assert registry.resolve("kling-v2").provider == "diffusers"


def test_each_family_names_kling_models_and_defaults_like_kling() -> None:
    assert set(FAMILIES["videos/text2video"].models) == set(CONTRACT_VIDEO)
    assert set(FAMILIES["images/generations"].models) == set(CONTRACT_IMAGES)
    assert FAMILIES["videos/text2video"].default_model == "kling-v1"
    assert FAMILIES["videos/omni-video"].default_model == "kling-video-o1"
    assert FAMILIES["images/kolors-virtual-try-on"].default_model == "kolors-virtual-try-on-v1"
    assert set(FAMILIES["images/kolors-virtual-try-on"].models) == set(CONTRACT_TRY_ON)
    assert FAMILIES["images/omni-image"].default_model == "kling-image-o1"


def test_durations_of_the_newer_models_are_3_to_15(tmp_path: Path) -> None:
    registry = ModelRegistry(Settings(data_dir=tmp_path))
    for name in ("kling-v2-6", "kling-v3", "kling-video-o1"):
        assert registry.resolve(name).durations == tuple(range(3, 16))
    assert registry.resolve("kling-v1-6").durations == (5, 10)


#: Families whose bodies carry images, video or sound inline (kling-api.md's family table).
MEDIA_FAMILIES = {"videos/image2video", "images/generations", "videos/omni-video",
                  "videos/multi-image2video", "videos/lip-sync", "videos/effects",
                  "videos/avatar/image2video", "videos/multi-elements",
                  "images/kolors-virtual-try-on", "images/omni-image",
                  "images/multi-image2image", "images/editing/expand", "audio/video-to-audio"}


def test_families_that_carry_images_take_a_10_mb_image_as_base64() -> None:
    limits = body_limits(256 * 1024, 64 * MB)
    for path in MEDIA_FAMILIES:
        assert limits[path] >= 10 * MB * 4 // 3 + 256 * 1024, path  # one image, base64
    for path in set(FAMILIES) - MEDIA_FAMILIES:
        assert limits[path] == 256 * 1024, path
    # try-on: a person and a garment; multi-image2video: four images
    assert limits["images/kolors-virtual-try-on"] >= 2 * 10 * MB * 4 // 3
    assert limits["videos/multi-image2video"] >= 4 * 10 * MB * 4 // 3


def test_the_operator_caps_image_bodies_and_never_shrinks_them_below_text() -> None:
    limits = body_limits(256 * 1024, 20 * MB)
    assert limits["videos/multi-image2video"] == 20 * MB
    assert 256 * 1024 + 10 * MB * 4 // 3 <= limits["images/generations"] < 20 * MB
    assert body_limits(MB, 1024)["images/generations"] == MB
