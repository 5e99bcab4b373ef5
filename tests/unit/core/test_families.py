"""The family table: stored forms, optional fields and who honours them."""

from __future__ import annotations

import base64
import json

import pytest

from openkling.core.errors import KlingError
from openkling.core.families import (
    FAMILIES,
    IMAGE2VIDEO,
    IMAGES,
    MULTI_IMAGE2IMAGE,
    MULTI_IMAGE2VIDEO,
    OMNI_IMAGE,
    OMNI_VIDEO,
    TEXT2VIDEO,
    catalogue,
    check_honoured,
    provider_families,
    requested_optional,
)
from openkling.core.family_requests import (
    AudioRequest,
    Image2VideoRequest,
    ImageGenerationRequest,
    MultiImage2ImageRequest,
    MultiImage2VideoRequest,
    OmniImageRequest,
    OmniVideoRequest,
    PassThroughRequest,
)
from openkling.core.models import Text2VideoRequest

#: kling-api.md, "Task families beyond text2video".
CONTRACT_FAMILIES = {
    "videos/text2video", "videos/image2video", "videos/omni-video", "videos/multi-image2video",
    "videos/video-extend", "videos/lip-sync", "videos/effects", "images/generations",
    "images/kolors-virtual-try-on", "images/omni-image", "images/multi-image2image",
    "images/editing/expand", "videos/avatar/image2video", "videos/multi-elements",
    "audio/text-to-audio", "audio/video-to-audio",
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


def test_text2video_keeps_newer_and_unknown_fields_like_every_family() -> None:
    req = Text2VideoRequest.model_validate({"prompt": "x", "sound": "on", "whatever": 1})
    stored = FAMILIES[TEXT2VIDEO].normalize(req, "kling-v2-6")  # type: ignore[misc]
    assert stored["sound"] == "on" and stored["whatever"] == 1
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


# ----- the table, against the contract's family table -----------------------------------------

CONTRACT_RESULTS = {
    "videos/text2video": "videos", "videos/image2video": "videos",
    "videos/omni-video": "videos", "videos/multi-image2video": "videos",
    "videos/video-extend": "videos", "videos/lip-sync": "videos", "videos/effects": "videos",
    "images/generations": "images", "images/kolors-virtual-try-on": "images",
    "images/omni-image": "images", "images/multi-image2image": "images",
    "images/editing/expand": "images", "videos/avatar/image2video": "videos",
    "videos/multi-elements": "videos", "audio/text-to-audio": "audios",
    "audio/video-to-audio": "audios",
}


def test_each_family_makes_what_the_contract_says_and_its_kind_is_its_path() -> None:
    assert {path: family.result for path, family in FAMILIES.items()} == CONTRACT_RESULTS
    assert all(family.kind == family.path == path for path, family in FAMILIES.items())


def test_image_fields_and_optional_fields_per_family() -> None:
    newer = ("sound", "voice_list", "multi_shot", "shot_type", "multi_prompt", "watermark_info")
    assert FAMILIES[TEXT2VIDEO].image_fields == ()
    assert FAMILIES[TEXT2VIDEO].optional_fields == ("camera_control", *newer)
    assert FAMILIES[IMAGE2VIDEO].image_fields == ("image", "image_tail")
    assert set(FAMILIES[IMAGE2VIDEO].optional_fields) == {
        "image_tail", "static_mask", "dynamic_masks", "camera_control", *newer}
    assert FAMILIES[IMAGES].image_fields == ("image",)
    assert set(FAMILIES[IMAGES].optional_fields) == {"image", "image_reference",
                                                     "human_fidelity"}
    relay_only = set(FAMILIES) - {TEXT2VIDEO, IMAGE2VIDEO, IMAGES}
    # multi-image2video types its image_list (its images are stored apart), on the
    # pass-through base: the rest is kept as sent.
    assert FAMILIES[MULTI_IMAGE2VIDEO].request is MultiImage2VideoRequest
    assert issubclass(MultiImage2VideoRequest, PassThroughRequest)
    assert FAMILIES[MULTI_IMAGE2VIDEO].image_lists == (("image_list", "image"),)
    # multi-image2image types its subject list and its scene and style images likewise.
    assert FAMILIES[MULTI_IMAGE2IMAGE].request is MultiImage2ImageRequest
    assert FAMILIES[MULTI_IMAGE2IMAGE].image_lists == (("subject_image_list", "subject_image"),)
    assert FAMILIES[MULTI_IMAGE2IMAGE].image_fields == ("scene_image", "style_image")
    # omni-image types its image_list (Kling's image rules apply at create) likewise.
    assert FAMILIES[OMNI_IMAGE].request is OmniImageRequest
    assert FAMILIES[OMNI_IMAGE].image_lists == (("image_list", "image"),)
    assert FAMILIES[OMNI_IMAGE].image_fields == ()
    # omni-video types its image_list too; its images' key is Kling's `image_url`.
    assert FAMILIES[OMNI_VIDEO].request is OmniVideoRequest
    assert issubclass(OmniVideoRequest, PassThroughRequest)
    assert FAMILIES[OMNI_VIDEO].image_lists == (("image_list", "image_url"),)
    assert all(FAMILIES[p].request is (AudioRequest if p.startswith("audio/")
                                       else PassThroughRequest)
               for p in relay_only - {MULTI_IMAGE2VIDEO, MULTI_IMAGE2IMAGE, OMNI_IMAGE,
                                       OMNI_VIDEO})
    assert all(FAMILIES[p].optional_fields == () for p in relay_only)


# ----- stored forms ---------------------------------------------------------------------------


def test_image2video_stores_every_field_as_sent() -> None:
    mask = {"mask": "bQ==", "trajectories": [{"x": 1, "y": 2}, {"x": 3, "y": 4}]}
    req = Image2VideoRequest.model_validate({
        "image": "aGk=", "prompt": "p", "negative_prompt": "n", "cfg_scale": 0.0,
        "mode": "pro", "duration": "10", "static_mask": "c20=", "dynamic_masks": [mask],
        "callback_url": "https://e.com/h", "voice_list": [{"voice_id": "v"}],
    })
    assert FAMILIES[IMAGE2VIDEO].normalize(req, "kling-v2-6") == {  # type: ignore[misc]
        "model_name": "kling-v2-6", "prompt": "p", "negative_prompt": "n", "cfg_scale": 0.0,
        "mode": "pro", "duration": 10, "static_mask": "c20=", "dynamic_masks": [mask],
        "camera_control": None, "voice_list": [{"voice_id": "v"}],
    }


def test_image2video_stores_camera_control_without_nulls() -> None:
    def stored(body: dict[str, object]) -> dict[str, object]:
        req = Image2VideoRequest.model_validate({"image": "aGk=", "negative_prompt": "", **body})
        return FAMILIES[IMAGE2VIDEO].normalize(req, "kling-v1")  # type: ignore[misc]

    simple = stored({"camera_control": {"type": "simple", "config": {"zoom": 5}}})
    assert simple["camera_control"] == {"type": "simple", "config": {
        "horizontal": 0.0, "vertical": 0.0, "pan": 0.0, "tilt": 0.0, "roll": 0.0, "zoom": 5.0}}
    preset = stored({"camera_control": {"type": "down_back"}})
    assert preset["camera_control"] == {"type": "down_back"}
    assert preset["negative_prompt"] is None and preset["dynamic_masks"] is None
    assert preset["static_mask"] is None


def test_images_store_every_field_as_sent() -> None:
    req = ImageGenerationRequest.model_validate({
        "prompt": "a fox", "negative_prompt": "blur", "image": "aGk=",
        "image_reference": "face", "image_fidelity": 0.0, "human_fidelity": 0.9,
        "resolution": "2k", "n": 9, "aspect_ratio": "21:9", "external_task_id": "e",
        "style": "anime",
    })
    assert FAMILIES[IMAGES].normalize(req, "kling-v2") == {  # type: ignore[misc]
        "model_name": "kling-v2", "prompt": "a fox", "negative_prompt": "blur",
        "image_reference": "face", "image_fidelity": 0.0, "human_fidelity": 0.9,
        "resolution": "2k", "n": 9, "aspect_ratio": "21:9", "style": "anime",
    }


def test_images_defaults_leave_unset_fields_empty() -> None:
    req = ImageGenerationRequest.model_validate({"prompt": "a fox", "negative_prompt": ""})
    stored = FAMILIES[IMAGES].normalize(req, "kling-v1")  # type: ignore[misc]
    assert stored == {
        "model_name": "kling-v1", "prompt": "a fox", "negative_prompt": None,
        "image_reference": None, "image_fidelity": 0.5, "human_fidelity": None,
        "resolution": "1k", "n": 1, "aspect_ratio": "16:9",
    }


def test_a_relayed_family_keeps_the_body_without_transport_fields() -> None:
    req = PassThroughRequest.model_validate({
        "model": "kling-v1-6", "effect_scene": "hug", "input": {"duration": "5"},
        "callback_url": "https://e.com/h", "external_task_id": "e1"})
    stored = FAMILIES["videos/effects"].normalize(req, "kling-v1-6")  # type: ignore[misc]
    assert stored == {"model_name": "kling-v1-6", "effect_scene": "hug",
                      "input": {"duration": "5"}}


def test_omni_image_keeps_the_body_its_images_stored_apart() -> None:
    body = {"prompt": "<<<image_1>>> in snow", "image_list": [{"image": "A"}, {"image": "B"}],
            "element_list": [{"element_id": 829}], "resolution": "2k", "n": 2,
            "aspect_ratio": "auto", "watermark_info": {"enabled": False},
            "callback_url": "https://e.com/h", "external_task_id": "e1"}
    req = FAMILIES[OMNI_IMAGE].request.model_validate(body)
    stored = FAMILIES[OMNI_IMAGE].normalize(req, "kling-image-o1")  # type: ignore[misc]
    assert stored == {"model_name": "kling-image-o1", "prompt": "<<<image_1>>> in snow",
                      "image_list": [{}, {}], "element_list": [{"element_id": 829}],
                      "resolution": "2k", "n": 2, "aspect_ratio": "auto",
                      "watermark_info": {"enabled": False}}


@pytest.mark.parametrize(("images", "elements"), [(10, 0), (0, 10), (6, 4)])
def test_omni_image_takes_ten_images_and_elements_together(images: int, elements: int) -> None:
    OmniImageRequest.model_validate({"prompt": "p", "image_list": [{"image": "A"}] * images,
                                     "element_list": [{"element_id": 1}] * elements})


@pytest.mark.parametrize(("images", "elements"), [(11, 0), (7, 4), (1, 10)])
def test_omni_image_refuses_more_than_ten_images_and_elements(images: int,
                                                               elements: int) -> None:
    with pytest.raises(ValueError, match="image_list"):
        OmniImageRequest.model_validate({"prompt": "p",
                                         "image_list": [{"image": "A"}] * images,
                                         "element_list": [{"element_id": 1}] * elements})


@pytest.mark.parametrize(("length", "valid"), [(2500, True), (2501, False)])
def test_omni_image_prompt_is_at_most_2500_characters(length: int, valid: bool) -> None:
    body = {"prompt": "x" * length}
    if valid:
        assert OmniImageRequest.model_validate(body).prompt == "x" * length
    else:
        with pytest.raises(ValueError, match="prompt"):
            OmniImageRequest.model_validate(body)


def test_the_resolved_model_name_replaces_the_one_sent() -> None:
    req = PassThroughRequest.model_validate({"model_name": "alias", "video_id": "v"})
    assert FAMILIES["videos/video-extend"].normalize(req, "kling-v2")[  # type: ignore[misc]
        "model_name"] == "kling-v2"


# ----- optional fields ------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, False, "on", [{"x": 1}], {"a": 1}])
def test_any_value_but_an_empty_one_or_off_counts_as_set(value: object) -> None:
    req = Text2VideoRequest.model_validate({"prompt": "x", "sound": value})
    assert requested_optional(FAMILIES[TEXT2VIDEO], req) == ["sound"]


@pytest.mark.parametrize("value", [None, "", [], {}])
def test_empty_values_are_not_set(value: object) -> None:
    req = Text2VideoRequest.model_validate({"prompt": "x", "sound": value})
    assert requested_optional(FAMILIES[TEXT2VIDEO], req) == []


def test_declared_optional_fields_count_in_the_familys_order() -> None:
    req = ImageGenerationRequest.model_validate({
        "prompt": "x", "human_fidelity": 0.2, "image_reference": "subject", "image": "aGk="})
    assert requested_optional(FAMILIES[IMAGES], req) == [
        "image", "image_reference", "human_fidelity"]


def test_honoured_fields_pass_and_the_first_unhonoured_is_named() -> None:
    family = FAMILIES[IMAGES]
    req = ImageGenerationRequest.model_validate({
        "prompt": "x", "image": "aGk=", "image_reference": "subject", "human_fidelity": 0.3})
    assert check_honoured(family, req, {"image", "image_reference", "human_fidelity"},
                          who="w") == []
    with pytest.raises(KlingError) as info:
        check_honoured(family, req, {"image"}, who="kling-v1 on this server",
                       accept_ignored={"human_fidelity"})
    assert (info.value.http_status, info.value.code) == (400, 1201)
    assert info.value.message == ("image_reference: not supported by kling-v1 on this server "
                                  "for images/generations")
    assert check_honoured(family, req, {"image"}, who="w",
                          accept_ignored={"human_fidelity", "image_reference"}) == [
        "image_reference", "human_fidelity"]


def test_a_families_attribute_that_is_no_mapping_is_not_a_declaration() -> None:
    class Odd:
        families = [IMAGES]

    assert provider_families(Odd()) == {TEXT2VIDEO: frozenset(FAMILIES[TEXT2VIDEO]
                                                              .optional_fields)}


@pytest.mark.parametrize(("path", "body"), [
    (TEXT2VIDEO, {"prompt": "x", "sound": "off"}),
    (TEXT2VIDEO, {"prompt": "x", "multi_shot": False}),
    (TEXT2VIDEO, {"prompt": "x", "watermark_info": {"enabled": False}}),
    (TEXT2VIDEO, {"prompt": "x", "voice_list": []}),
    (TEXT2VIDEO, {"prompt": "x", "camera_control": None}),
    (IMAGE2VIDEO, {"image": "aGk=", "sound": "off", "multi_shot": False,
                   "watermark_info": {"enabled": False}, "camera_control": None}),
    # The official image node sends human_fidelity 0.45 on every call.
    (IMAGES, {"prompt": "x", "human_fidelity": 0.45}),
    (IMAGES, {"prompt": "x", "human_fidelity": 0.45, "image_fidelity": 0.5}),
])
def test_values_that_ask_for_nothing_are_accepted_by_a_model_that_honours_nothing(
        path: str, body: dict[str, object]) -> None:
    family = FAMILIES[path]
    req = family.request.model_validate(body)
    assert requested_optional(family, req) == []
    assert check_honoured(family, req, set(), who="the local model") == []


def test_human_fidelity_without_a_subject_reference_asks_for_nothing() -> None:
    req = ImageGenerationRequest.model_validate({"prompt": "x", "image": "aGk=",
                                                 "human_fidelity": 0.45})
    assert requested_optional(FAMILIES[IMAGES], req) == ["image"]
    assert check_honoured(FAMILIES[IMAGES], req, {"image"}, who="the local model") == []


@pytest.mark.parametrize(("reference", "asked"), [
    # Kling: human_fidelity is "only effective when image_reference is subject".
    ("face", ["image", "image_reference"]),
    ("subject", ["image", "image_reference", "human_fidelity"]),
])
def test_human_fidelity_asks_for_something_only_beside_a_subject_reference(
        reference: str, asked: list[str]) -> None:
    req = ImageGenerationRequest.model_validate({"prompt": "x", "image": "aGk=",
                                                 "image_reference": reference,
                                                 "human_fidelity": 0.45})
    assert requested_optional(FAMILIES[IMAGES], req) == asked


@pytest.mark.parametrize(("path", "body", "field"), [
    (TEXT2VIDEO, {"prompt": "x", "sound": "on"}, "sound"),
    (TEXT2VIDEO, {"prompt": "x", "multi_shot": True}, "multi_shot"),
    (TEXT2VIDEO, {"prompt": "x", "watermark_info": {"enabled": True}}, "watermark_info"),
    (TEXT2VIDEO, {"prompt": "x", "voice_list": [{"voice_id": "v1"}]}, "voice_list"),
    (TEXT2VIDEO, {"prompt": "x", "camera_control": {"type": "down_back"}}, "camera_control"),
    (IMAGE2VIDEO, {"image": "aGk=", "sound": "on"}, "sound"),
    (IMAGE2VIDEO, {"image": "aGk=", "multi_shot": True}, "multi_shot"),
    (IMAGES, {"prompt": "x", "image": "aGk=", "image_reference": "subject"}, "image"),
])
def test_values_that_ask_for_something_are_still_refused_naming_the_field(
        path: str, body: dict[str, object], field: str) -> None:
    family = FAMILIES[path]
    req = family.request.model_validate(body)
    with pytest.raises(KlingError) as info:
        check_honoured(family, req, set(), who="the local model")
    assert (info.value.code, info.value.http_status) == (1201, 400)
    assert info.value.message.startswith(f"{field}: not supported by the local model")


def test_human_fidelity_with_a_subject_reference_asks_for_it() -> None:
    req = ImageGenerationRequest.model_validate({"prompt": "x", "image": "aGk=",
                                                 "image_reference": "subject",
                                                 "human_fidelity": 0.45})
    assert requested_optional(FAMILIES[IMAGES], req) == ["image", "image_reference",
                                                         "human_fidelity"]
    with pytest.raises(KlingError) as info:
        check_honoured(FAMILIES[IMAGES], req, {"image", "image_reference"}, who="m")
    assert info.value.message == "human_fidelity: not supported by m for images/generations"


#: kling-api.md, "Request bodies": Kling takes each image up to 10 MB, inline as raw base64.
ONE_FILE_BASE64 = len(base64.b64encode(bytes(10 * 1024 * 1024)))
#: The media files a body of each family carries, where the contract's family table counts
#: them: none (text, or a reference to an earlier result), one image, try-on's person and
#: cloth, multi-image2video's "up to 4".
CONTRACT_MEDIA = {"videos/text2video": 0, "videos/video-extend": 0, "audio/text-to-audio": 0,
                  "images/generations": 1, "images/editing/expand": 1,
                  "images/kolors-virtual-try-on": 2, "videos/multi-image2video": 4}
SMALL_LIMIT, LARGE_LIMIT = 1024, 1024 * 1024 * 1024


def body_carrying(files: int) -> int:
    """The size of a create body with `files` media files of Kling's largest size."""
    return len(json.dumps({"model_name": "kling-v1", "prompt": "a cat",
                           "image_list": [{"image": "A" * ONE_FILE_BASE64}] * files}))


@pytest.mark.parametrize(("path", "files"), sorted(CONTRACT_MEDIA.items()))
def test_the_body_limit_has_room_for_the_media_the_family_carries_and_little_more(
        path: str, files: int) -> None:
    limit = FAMILIES[path].body_limit(SMALL_LIMIT, LARGE_LIMIT)
    if not files:
        assert limit == SMALL_LIMIT
        return
    assert body_carrying(files) <= limit  # every file fits, with its JSON
    assert limit - body_carrying(files) <= SMALL_LIMIT + files * 4096  # room for no more
    assert body_carrying(files + 1) > limit


def test_the_operators_image_body_limit_caps_a_media_family_and_never_lowers_the_text_one() -> (
        None):
    family = FAMILIES["videos/multi-image2video"]
    assert family.body_limit(SMALL_LIMIT, 5 * 1024 * 1024) == 5 * 1024 * 1024
    assert family.body_limit(8 * 1024 * 1024, 5 * 1024 * 1024) == 8 * 1024 * 1024
    assert FAMILIES[TEXT2VIDEO].body_limit(8 * 1024 * 1024, LARGE_LIMIT) == 8 * 1024 * 1024


def test_newer_models_take_3_to_15_seconds_and_the_others_the_catalogues_default() -> None:
    """kling-api.md: kling-v2-6 and kling-v3 add durations 3..15; None means 5 and 10."""
    listed = catalogue()
    for name in ("kling-v2-6", "kling-v3"):
        assert listed[name] == (3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
    for name in ("kling-v1", "kling-v1-6", "kling-v2-master", "kolors-virtual-try-on-v1"):
        assert listed[name] is None


def test_omni_video_keeps_an_image_type_it_does_not_know_for_the_relay() -> None:
    """Kling adds kinds of image to omni-video; the request model keeps any `type` (the relay
    forwards it; the local provider refuses one it cannot render, naming it)."""
    req = OmniVideoRequest.model_validate({"prompt": "p", "image_list": [
        {"image_url": "https://example.com/a.png", "type": "middle_frame"}]})
    stored = FAMILIES[OMNI_VIDEO].normalize(req, "kling-video-o1")  # type: ignore[misc]
    assert stored["image_list"] == [{"type": "middle_frame"}]
