"""The family table: stored forms, optional fields and who honours them."""

from __future__ import annotations

import pytest

from openkling.core.errors import KlingError
from openkling.core.families import (
    FAMILIES,
    IMAGE2VIDEO,
    IMAGES,
    TEXT2VIDEO,
    check_honoured,
    provider_families,
    requested_optional,
)
from openkling.core.family_requests import Image2VideoRequest, ImageGenerationRequest
from openkling.core.models import Text2VideoRequest

CONTRACT_FAMILIES = {
    "videos/text2video", "videos/image2video", "videos/omni-video", "videos/multi-image2video",
    "videos/video-extend", "videos/lip-sync", "videos/effects", "images/generations",
    "images/kolors-virtual-try-on",
}


def test_every_family_of_the_contract_is_declared() -> None:
    assert set(FAMILIES) == CONTRACT_FAMILIES
    assert FAMILIES[IMAGES].result == "images" and FAMILIES[IMAGE2VIDEO].result == "videos"


def test_image2video_defaults_and_kept_extras() -> None:
    req = Image2VideoRequest.model_validate({"image": "aGk=", "sound": "on",
                                             "external_task_id": "e1"})
    stored = FAMILIES[IMAGE2VIDEO].normalize(req, "kling-v2-6")  # type: ignore[misc]
    assert stored["prompt"] == "" and stored["mode"] == "std" and stored["duration"] == 5
    assert stored["cfg_scale"] == 0.5 and stored["sound"] == "on"
    assert "image" not in stored and "external_task_id" not in stored


def test_images_defaults() -> None:
    req = ImageGenerationRequest.model_validate({"prompt": "a fox"})
    stored = FAMILIES[IMAGES].normalize(req, "kling-v1")  # type: ignore[misc]
    assert (stored["n"], stored["resolution"], stored["aspect_ratio"]) == (1, "1k", "16:9")
    assert stored["image_fidelity"] == 0.5


def test_text2video_keeps_newer_fields_only() -> None:
    req = Text2VideoRequest.model_validate({"prompt": "x", "sound": "on", "whatever": 1})
    stored = FAMILIES[TEXT2VIDEO].normalize(req, "kling-v2-6")  # type: ignore[misc]
    assert stored["sound"] == "on" and "whatever" not in stored
    assert requested_optional(FAMILIES[TEXT2VIDEO], req) == ["sound"]


def test_an_unhonoured_field_is_refused_naming_it_unless_accepted_to_ignore() -> None:
    family = FAMILIES[TEXT2VIDEO]
    req = Text2VideoRequest.model_validate({"prompt": "x", "sound": "on",
                                            "camera_control": {"type": "down_back"}})
    with pytest.raises(KlingError) as info:
        check_honoured(family, req, {"sound"}, who="the local model")
    assert info.value.code == 1201
    assert info.value.message == ("camera_control: not supported by the local model for "
                                  "videos/text2video")
    ignored = check_honoured(family, req, set(), who="x",
                             accept_ignored={"sound", "camera_control"})
    assert ignored == ["camera_control", "sound"]
    assert check_honoured(family, Text2VideoRequest.model_validate({"prompt": "x"}), set(),
                          who="x") == []


def test_empty_values_do_not_count_as_set() -> None:
    req = Image2VideoRequest.model_validate({"image": "aGk=", "image_tail": "",
                                             "voice_list": []})
    assert requested_optional(FAMILIES[IMAGE2VIDEO], req) == []


def test_a_provider_that_declares_nothing_serves_text2video_only() -> None:
    assert set(provider_families(object())) == {TEXT2VIDEO}

    class Declares:
        families = {IMAGES: frozenset({"image"})}

    assert provider_families(Declares()) == {IMAGES: frozenset({"image"})}
