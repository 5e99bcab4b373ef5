"""The task service's create for every family, on a relay and on the local provider double:
durations read the same way everywhere, Kling's model names, refusals naming the field.

No network: the relay's channel points at a closed loopback port and a create never calls it
(the provider's `check` does no I/O; the worker, which would, is not started)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from openkling.assembly import ApiParts, Resources, build_api
from openkling.config import Settings
from openkling.core.auth import Principal
from openkling.core.errors import KlingError
from openkling.core.families import FAMILIES
from tests.conftest import PROVIDER_DOUBLE, free_port

RELAYED = {"kling-v1-6": {"provider": "kling"}, "kling-v2-6": {"provider": "kling",
                                                                "durations": list(range(3, 16))}}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[ApiParts, Principal]]:
    """The provider double locally, two models on the relay."""
    settings = Settings(
        data_dir=tmp_path, provider=PROVIDER_DOUBLE, embedded_worker=False,
        models=json.loads(json.dumps(RELAYED)),
        provider_options={"kling": {"base_url": f"http://127.0.0.1:{free_port()}",
                                    "api_key": "sk-never-sent"}},
    )
    async with _parts(settings) as parts:
        yield parts


@pytest.fixture
async def local(tmp_path: Path) -> AsyncIterator[tuple[ApiParts, Principal]]:
    """The default server: every model on the local diffusers provider (never started)."""
    settings = Settings(data_dir=tmp_path, embedded_worker=False, provider_options={
        "diffusers": {"model": "tiny-random-wan", "device": "cpu"}})
    async with _parts(settings) as parts:
        yield parts


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[tuple[ApiParts, Principal]]:
    """Every model on the relay."""
    settings = Settings(data_dir=tmp_path, provider="kling", embedded_worker=False,
                        provider_options={"kling": {
                            "base_url": f"http://127.0.0.1:{free_port()}",
                            "api_key": "sk-never-sent"}})
    async with _parts(settings) as parts:
        yield parts


@pytest.fixture
async def local_images(tmp_path: Path) -> AsyncIterator[tuple[ApiParts, Principal]]:
    """The default server, taking input images (base64 only here: nothing is fetched)."""
    settings = Settings(data_dir=tmp_path, embedded_worker=False, provider_options={
        "diffusers": {"model": "tiny-random-wan", "device": "cpu"}})
    async with httpx.AsyncClient() as http, _parts(settings, http) as parts:
        yield parts


@contextlib.asynccontextmanager
async def _parts(settings: Settings, http: httpx.AsyncClient | None = None) -> (
        AsyncIterator[tuple[ApiParts, Principal]]):
    resources = Resources.open(settings)
    try:
        await resources.migrate()
        account, _ = await resources.accounts.get_or_create(
            "families", now=1, callback_secret_enc=resources.master.encrypt("s"))
        parts = build_api(resources, resources.build_providers(), http=http)
        yield parts, Principal(account_id=account.id, account_name="families",
                               credential_id=0)
    finally:
        await resources.close()


async def _create(api: tuple[ApiParts, Principal], path: str, body: dict[str, Any]) -> Any:
    parts, who = api
    family = FAMILIES[path]
    return await parts.tasks.create(who, family.request.model_validate(body), family)


RELAY_ONLY_VIDEOS = ("videos/omni-video", "videos/multi-image2video", "videos/video-extend",
                     "videos/effects")


@pytest.mark.parametrize("path", RELAY_ONLY_VIDEOS)
@pytest.mark.parametrize("duration", ["5", 5, "10"])
async def test_a_relay_only_family_takes_durations_like_text2video(
        api: tuple[ApiParts, Principal], path: str, duration: object) -> None:
    task = await _create(api, path, {"model_name": "kling-v1-6", "prompt": "x",
                                     "duration": duration})
    assert task.kind == path and task.request["duration"] == int(str(duration))


@pytest.mark.parametrize("path", ("videos/text2video", *RELAY_ONLY_VIDEOS))
async def test_a_duration_the_model_does_not_allow_is_refused_on_every_family(
        api: tuple[ApiParts, Principal], path: str) -> None:
    with pytest.raises(KlingError) as info:
        await _create(api, path, {"model_name": "kling-v1-6", "prompt": "x", "duration": "7"})
    assert (info.value.http_status, info.value.code) == (400, 1201)
    assert info.value.message == 'duration: kling-v1-6 accepts "5", "10"'
    ok = await _create(api, path, {"model_name": "kling-v2-6", "prompt": "x", "duration": "7"})
    assert ok.request["duration"] == 7


@pytest.mark.parametrize("duration", ["5.0", " 5", True, "2", 16])
async def test_a_malformed_duration_is_refused_by_the_request_model(duration: object) -> None:
    from pydantic import ValidationError
    for path in ("videos/text2video", *RELAY_ONLY_VIDEOS):
        with pytest.raises(ValidationError) as info:
            FAMILIES[path].request.model_validate({"prompt": "x", "duration": duration})
        assert info.value.errors()[0]["loc"] == ("duration",)


#: Kling's model names a client sends on each family (kling-api.md); None: Kling's route
#: takes no model name, and the create is made without one.
KLING_NAMES: dict[str, tuple[str | None, ...]] = {
    "videos/text2video": ("kling-v2-5-turbo", "kling-v3", "kling-video-o1"),
    "videos/omni-video": ("kling-video-o1", None),
    "images/generations": ("kling-v2", "kling-v2-new", "kling-image-o1", None),
    "images/kolors-virtual-try-on": ("kolors-virtual-try-on-v1", "kolors-virtual-try-on-v1-5",
                                     None),
    "images/omni-image": ("kling-image-o1", None),
    "images/multi-image2image": ("kling-v2", None),
    "audio/text-to-audio": (None,),
}
#: What the task is stored under when the client sent no model name (Kling's defaults).
DEFAULTS = {"videos/text2video": "kling-v1", "videos/omni-video": "kling-video-o1",
            "images/generations": "kling-v1",
            "images/kolors-virtual-try-on": "kolors-virtual-try-on-v1",
            "images/omni-image": "kling-image-o1", "images/multi-image2image": "kling-v2",
            "audio/text-to-audio": "kling-v1"}


@pytest.mark.parametrize(("path", "name"), [(p, n) for p, names in KLING_NAMES.items()
                                            for n in names])
async def test_the_relay_takes_klings_model_names_on_each_family(
        relay: tuple[ApiParts, Principal], path: str, name: str | None) -> None:
    body: dict[str, Any] = {"prompt": "a cat"}
    if name is not None:
        body["model_name"] = name
    task = await _create(relay, path, body)
    assert (task.kind, task.provider) == (path, "kling")
    assert task.model_name == (name or DEFAULTS[path])


RELAY_ONLY = sorted(set(FAMILIES) - {"videos/text2video", "videos/image2video",
                                     "images/generations", "audio/text-to-audio",
                                     "images/editing/expand", "videos/multi-image2video",
                                     "videos/video-extend", "images/multi-image2image",
                                     "images/omni-image", "videos/omni-video",
                                     "videos/multi-elements"})


async def test_the_local_provider_takes_text_to_audio(
        local: tuple[ApiParts, Principal]) -> None:
    task = await _create(local, "audio/text-to-audio", {"prompt": "rain", "duration": "3.5"})
    assert (task.kind, task.provider) == ("audio/text-to-audio", "diffusers")
    assert task.request["duration"] == "3.5"


async def test_the_local_provider_refuses_expand_without_an_image(
        local: tuple[ApiParts, Principal]) -> None:
    with pytest.raises(KlingError) as info:
        await _create(local, "images/editing/expand", {"up_expansion_ratio": 0.5})
    assert (info.value.http_status, info.value.code) == (400, 1201)
    assert info.value.message.startswith("image: is required")


def _png_b64(width: int, height: int) -> str:
    import base64
    import io

    from PIL import Image
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 30, 160)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


async def test_the_local_provider_takes_multi_image2video_its_images_stored_apart(
        local_images: tuple[ApiParts, Principal]) -> None:
    task = await _create(local_images, "videos/multi-image2video", {
        "prompt": "they dance", "duration": "5", "aspect_ratio": "9:16",
        "image_list": [{"image": _png_b64(320, 480)}, {"image": _png_b64(400, 300)}]})
    assert (task.kind, task.provider) == ("videos/multi-image2video", "diffusers")
    assert task.model_name == "kling-v1-6"  # Kling's default for the route
    assert task.request["image_list"] == [{}, {}]  # the images are in storage, not the row
    inputs = task.request["inputs"]
    assert list(inputs) == ["image_list.0.image", "image_list.1.image"]
    assert (inputs["image_list.0.image"]["width"], inputs["image_list.1.image"]["width"]) == (
        320, 400)


@pytest.mark.parametrize(("body", "message"), [
    ({"prompt": "they dance"}, "image_list: is required"),
    ({"image_list": [{"image": "IMAGE"}]}, "prompt: is required"),
    ({"prompt": "p", "image_list": [{"image": "IMAGE"}], "camera_control": {"type": "down_back"}},
     "camera_control: not supported by the local diffusers provider"),
    ({"prompt": "p", "image_list": [{"image": "IMAGE"}], "aspect_ratio": "4:3"},
     "aspect_ratio: must be one of 16:9, 9:16, 1:1"),
])
async def test_the_local_provider_refuses_a_multi_image2video_it_cannot_make(
        local_images: tuple[ApiParts, Principal], body: dict[str, Any], message: str) -> None:
    image = _png_b64(320, 320)
    body = {**body, **({"image_list": [{"image": image}]} if "image_list" in body else {})}
    with pytest.raises(KlingError) as info:
        await _create(local_images, "videos/multi-image2video", body)
    assert (info.value.http_status, info.value.code) == (400, 1201)
    assert info.value.message.startswith(message)


async def test_the_local_provider_takes_omni_image_its_images_stored_apart(
        local_images: tuple[ApiParts, Principal]) -> None:
    task = await _create(local_images, "images/omni-image", {
        "prompt": "<<<image_2>>> wears the hat of <<<image_1>>>", "n": 2,
        "image_list": [{"image": _png_b64(320, 480)}, {"image": _png_b64(400, 300)}]})
    assert (task.kind, task.provider) == ("images/omni-image", "diffusers")
    assert task.model_name == "kling-image-o1"  # Kling's default for the route
    assert task.request["image_list"] == [{}, {}]  # the images are in storage, not the row
    assert list(task.request["inputs"]) == ["image_list.0.image", "image_list.1.image"]


async def test_the_local_provider_takes_a_text_only_omni_image(
        local_images: tuple[ApiParts, Principal]) -> None:
    """Valid on Kling: the images/generations model renders it (docs/providers.md)."""
    task = await _create(local_images, "images/omni-image", {"prompt": "a cat in snow"})
    assert (task.kind, task.provider) == ("images/omni-image", "diffusers")
    assert "inputs" not in task.request


@pytest.mark.parametrize(("body", "message"), [
    ({"prompt": "<<<image_1>>> in snow"}, "prompt: <<<image_1>>> refers to an image not sent"),
    ({"prompt": "<<<image_2>>> in snow", "image_list": [{"image": "IMAGE"}]},
     "prompt: <<<image_2>>> refers to an image not sent"),
    ({"prompt": "p", "image_list": [{"image": "IMAGE"}], "element_list": [{"element_id": 1}]},
     "element_list: not supported by the local diffusers provider"),
    ({"prompt": "p", "image_list": [{"image": "IMAGE"}], "negative_prompt": "rain"},
     "negative_prompt: not supported by the local diffusers provider"),
])
async def test_the_local_provider_refuses_an_omni_image_it_cannot_make(
        local_images: tuple[ApiParts, Principal], body: dict[str, Any], message: str) -> None:
    if "image_list" in body:
        body = {**body, "image_list": [{"image": _png_b64(320, 320)}]}
    with pytest.raises(KlingError) as info:
        await _create(local_images, "images/omni-image", body)
    assert (info.value.http_status, info.value.code) == (400, 1201)
    assert info.value.message.startswith(message)


async def test_the_local_provider_takes_omni_video_its_image_urls_stored_apart(
        local_images: tuple[ApiParts, Principal]) -> None:
    """Kling's omni-video images are `image_list[{image_url, type}]`: each stored under
    `image_list.<i>.image_url`, the object keeping its `type`."""
    task = await _create(local_images, "videos/omni-video", {
        "prompt": "<<<image_1>>> walks", "duration": 5, "image_list": [
            {"image_url": _png_b64(480, 320), "type": "first_frame"},
            {"image_url": _png_b64(400, 300)}]})
    assert (task.kind, task.provider) == ("videos/omni-video", "diffusers")
    assert task.model_name == "kling-video-o1"  # Kling's default for the route
    assert task.request["image_list"] == [{"type": "first_frame"}, {}]
    inputs = task.request["inputs"]
    assert list(inputs) == ["image_list.0.image_url", "image_list.1.image_url"]
    assert inputs["image_list.0.image_url"]["width"] == 480


@pytest.mark.parametrize(("body", "message"), [
    ({"prompt": "p", "element_list": [{"element_id": 1}]}, "element_list: not supported"),
    ({"prompt": "p", "sound": "on"}, "sound: not supported"),
    ({"prompt": "<<<image_2>>> walks", "image_list": [{"image_url": "IMAGE"}]}, "prompt: "),
    ({"prompt": "p", "image_list": [{"image_url": "IMAGE", "type": "end_frame"}]},
     "image_list: an end_frame needs a first_frame"),
])
async def test_the_local_provider_refuses_an_omni_video_it_cannot_make(
        local_images: tuple[ApiParts, Principal], body: dict[str, Any], message: str) -> None:
    image = _png_b64(320, 320)
    body = {**body, "image_list": [{**item, "image_url": image}
                                   for item in body.get("image_list", [])]}
    with pytest.raises(KlingError) as info:
        await _create(local_images, "videos/omni-video", body)
    assert (info.value.http_status, info.value.code) == (400, 1201)
    assert info.value.message.startswith(message)


@pytest.mark.parametrize("body", [{"prompt": "a cat"}, {"video_id": "866889456698785798"}])
async def test_the_local_provider_refuses_video_extend_without_a_video_of_the_account(
        local: tuple[ApiParts, Principal], body: dict[str, Any]) -> None:
    with pytest.raises(KlingError) as info:
        await _create(local, "videos/video-extend", body)
    assert (info.value.http_status, info.value.code) == (400, 1201)
    assert info.value.message.startswith("video_id: ")


async def test_the_relay_forwards_any_video_id_and_never_a_clients_input_videos(
        relay: tuple[ApiParts, Principal]) -> None:
    """Kling resolves the id upstream (a video made on Kling itself is extendable there);
    `input_videos` is the server's own lookup record, dropped when a client sends it."""
    task = await _create(relay, "videos/video-extend", {
        "video_id": "866889456698785798", "prompt": "more",
        "input_videos": {"video_id": {"video_id": "866889456698785798", "key": "videos/x"}}})
    assert task.request["video_id"] == "866889456698785798"
    assert "input_videos" not in task.request


@pytest.mark.parametrize("duration", ["3.5", 3.5, "three"])
async def test_the_relay_forwards_a_sound_duration_as_sent(
        relay: tuple[ApiParts, Principal], duration: object) -> None:
    """Not a whole number of seconds, or not a number at all: Kling checks it, never a 500."""
    task = await _create(relay, "audio/text-to-audio", {"prompt": "rain", "duration": duration})
    assert task.request["duration"] == duration


@pytest.mark.parametrize("path", RELAY_ONLY)
async def test_the_local_provider_refuses_a_relay_only_family_naming_the_relay(
        local: tuple[ApiParts, Principal], path: str) -> None:
    with pytest.raises(KlingError) as info:
        await _create(local, path, {"prompt": "a cat"})
    assert (info.value.http_status, info.value.code) == (400, 1201)
    assert info.value.message == (
        f"{path}: not served by the provider 'diffusers' of this server; the relay provider "
        "'kling' serves it (a relay to Kling; see docs/relay.md)")


async def test_the_local_provider_answers_selection_calls_for_the_callers_account(
        local: tuple[ApiParts, Principal]) -> None:
    """The session is the local provider's own (docs/providers.md): a video id that is none
    of the account's results is a refused field; a session id it never opened is not found;
    a create needs a session."""
    parts, who = local
    family = FAMILIES["videos/multi-elements"]
    assert family.actions == ("init-selection", "add-selection", "delete-selection",
                              "clear-selection", "preview-selection")
    with pytest.raises(KlingError) as info:
        await parts.tasks.forward(who, family, "init-selection", {"video_id": "1"})
    assert (info.value.http_status, info.value.code) == (400, 1201)
    assert info.value.message.startswith("video_id: ")
    with pytest.raises(KlingError) as info:
        await parts.tasks.forward(who, family, "add-selection",
                                  {"session_id": "123", "frame_index": 0,
                                   "points": [{"x": 0.5, "y": 0.5}]})
    assert (info.value.http_status, info.value.code) == (404, 1203)
    with pytest.raises(KlingError) as info:
        await _create(local, "videos/multi-elements", {"edit_mode": "removal",
                                                       "prompt": "x"})
    assert (info.value.http_status, info.value.code) == (400, 1201)
    assert info.value.message.startswith("session_id: ")


async def test_a_selection_call_with_a_model_name_that_is_no_string_is_refused(
        relay: tuple[ApiParts, Principal]) -> None:
    parts, who = relay
    with pytest.raises(KlingError) as info:
        await parts.tasks.forward(who, FAMILIES["videos/multi-elements"], "init-selection",
                                  {"model_name": ["kling-v1-6"]})
    assert info.value.message == "model_name: must be a string"


async def test_a_relay_whose_channels_leave_a_family_out_says_so(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, provider="kling", embedded_worker=False,
                        provider_options={"kling": {
                            "base_url": f"http://127.0.0.1:{free_port()}",
                            "api_key": "sk-never-sent", "families": ["videos/text2video"]}})
    async with _parts(settings) as relay:
        with pytest.raises(KlingError) as info:
            await _create(relay, "videos/effects", {"effect_scene": "hug"})
    assert info.value.message == (
        "videos/effects: not served by the provider 'kling' of this server; no channel of the "
        "relay serves it (the channels' `families`; docs/relay.md)")
