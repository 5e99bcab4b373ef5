"""End to end with the tiny models: `openkling serve --model tiny-random-wan` serves
image2video (MP4 from an image URL), images/generations (PNGs), audio/text-to-audio (WAV
and MP3), images/editing/expand (PNGs of the expanded size) and videos/multi-image2video
(an MP4 from reference images, on Wan VACE), videos/omni-video (MP4s from reference images,
first and end frames, or text, on Wan VACE), images/multi-image2image (PNGs from subject
images, on Qwen-Image-Edit Plus), images/omni-image (PNGs from the images a prompt names, on
Qwen-Image-Edit Plus, or from text alone on the images model), and refuses, or with
OPENKLING_ACCEPT_IGNORED_FIELDS accepts and reports, the fields it cannot honour."""

from __future__ import annotations

import base64
import io
import wave
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from openkling.providers.diffusers.encode import write_mp4
from tests.conftest import (
    TINY_WAN_ENV,
    Credentials,
    ServerHandle,
    running_server,
    wait_for_status,
)
from tests.support.diffusers import decoded_audio, probe
from tests.support.images import image_host, png

pytestmark = pytest.mark.slow


UPRIGHT = png(400, 800)


@pytest.fixture(scope="module")
def image_url() -> Iterator[str]:
    with image_host(UPRIGHT) as url:
        yield url


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    with running_server(tmp_path_factory.mktemp("families-tiny"), "diffusers", {
        **TINY_WAN_ENV,
        "OPENKLING_MAX_ATTEMPTS": "1",
        "OPENKLING_ALLOW_PRIVATE_IMAGE_URLS": "true",
        "OPENKLING_ACCEPT_IGNORED_FIELDS": '["sound"]',
    }) as handle:
        yield handle


@pytest.fixture(scope="module")
def creds(server: ServerHandle) -> Credentials:
    return server.create_key("families")


@pytest.fixture
async def http(server: ServerHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
        yield client


async def test_image2video_from_a_url_renders_an_upright_mp4(
    http: httpx.AsyncClient, creds: Credentials, image_url: str, tmp_path: Path,
) -> None:
    created = await http.post("/v1/videos/image2video", headers=creds.headers,
                              json={"image": image_url, "prompt": "leaves", "duration": 3,
                                    "model_name": "kling-v2-6"})
    assert created.status_code == 200, created.text
    task_id = created.json()["data"]["task_id"]
    done = await wait_for_status(http, f"/v1/videos/image2video/{task_id}", creds.headers,
                                 {"succeed", "failed"}, timeout=300)
    assert done["task_status"] == "succeed", done
    video = done["task_result"]["videos"][0]  # type: ignore[index]
    assert video["duration"] == f"{49 / 16:.1f}"
    body = (await http.get(video["url"])).content
    path = tmp_path / "v.mp4"
    path.write_bytes(body)
    info = probe(path)
    assert info["frames"] == 49 and info["fps"] == 16
    width, height = info["size"]
    assert height > width  # follows the 1:2 input image


async def _generated(http: httpx.AsyncClient, creds: Credentials,
                     body: dict[str, object]) -> list[dict[str, Any]]:
    """The images of an images/generations task created through /kling, polled to its end."""
    created = await http.post("/kling/v1/images/generations", headers=creds.headers, json=body)
    assert created.status_code == 200, created.text
    task_id = created.json()["data"]["task_id"]
    done = await wait_for_status(http, f"/kling/v1/images/generations/{task_id}",
                                 creds.headers, {"succeed", "failed"}, timeout=300)
    assert done["task_status"] == "succeed", done
    return done["task_result"]["images"]  # type: ignore[index,no-any-return]


async def test_images_generations_makes_n_pngs(http: httpx.AsyncClient,
                                               creds: Credentials) -> None:
    images = await _generated(http, creds, {"prompt": "a fox", "n": 2, "aspect_ratio": "16:9"})
    assert [i["index"] for i in images] == [0, 1]
    for image in images:
        picture = Image.open(io.BytesIO((await http.get(image["url"])).content))
        assert picture.format == "PNG"
        assert picture.width / picture.height == pytest.approx(16 / 9, rel=0.05)


@pytest.mark.parametrize("body", [
    {"image_reference": "subject", "image_fidelity": 0.7, "human_fidelity": 0.45},
    {"image_reference": "face", "n": 2, "aspect_ratio": "3:4", "model_name": "kling-v1-5"},
])
async def test_images_generations_follows_a_reference_image(
        http: httpx.AsyncClient, creds: Credentials, image_url: str,
        body: dict[str, object]) -> None:
    images = await _generated(http, creds, {"prompt": "the same fox in snow",
                                            "image": image_url, **body})
    assert [i["index"] for i in images] == list(range(int(body.get("n", 1))))  # type: ignore[call-overload]
    want_w, want_h = (int(part) for part in str(body.get("aspect_ratio", "16:9")).split(":"))
    for image in images:
        picture = Image.open(io.BytesIO((await http.get(image["url"])).content))
        assert picture.format == "PNG"
        # The request's ratio, not the upright reference's: a reference is no canvas.
        assert picture.width / picture.height == pytest.approx(want_w / want_h, rel=0.05)


async def test_images_generations_refuses_a_reference_with_no_image(
        http: httpx.AsyncClient, creds: Credentials) -> None:
    response = await http.post("/v1/images/generations", headers=creds.headers,
                               json={"prompt": "x", "image_reference": "face"})
    data = response.json()
    assert (response.status_code, data["code"]) == (400, 1201), data
    assert data["message"].startswith("image_reference: needs an image"), data


async def test_text_to_audio_makes_a_wav_and_an_mp3_of_the_duration(
        http: httpx.AsyncClient, creds: Credentials) -> None:
    created = await http.post("/kling/v1/audio/text-to-audio", headers=creds.headers,
                              json={"prompt": "rain on a tin roof", "duration": "3.5",
                                    "external_task_id": "rain-1"})
    assert created.status_code == 200, created.text
    task_id = created.json()["data"]["task_id"]
    done = await wait_for_status(http, f"/kling/v1/audio/text-to-audio/{task_id}",
                                 creds.headers, {"succeed", "failed"}, timeout=300)
    assert done["task_status"] == "succeed", done
    [audio] = done["task_result"]["audios"]  # type: ignore[index]
    assert "videos" not in done["task_result"]  # type: ignore[operator]
    # Kling's audio object: {id, url_mp3, url_wav, duration_mp3, duration_wav}.
    assert set(audio) == {"id", "url_mp3", "url_wav", "duration_mp3", "duration_wav"}
    assert audio["duration_wav"] == audio["duration_mp3"] == "3.5"
    wav_answer = await http.get(audio["url_wav"])
    assert wav_answer.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(wav_answer.content)) as sound:
        assert sound.getnchannels() == 2
        assert sound.getnframes() / sound.getframerate() == 3.5
    mp3_answer = await http.get(audio["url_mp3"])
    assert mp3_answer.headers["content-type"] == "audio/mpeg"
    codec, rate, channels, samples = decoded_audio(mp3_answer.content)
    assert (codec, channels) == ("mp3float", 2)
    assert samples / rate == 3.5


@pytest.mark.parametrize(("body", "field"), [
    # Kling's limits (kling-api.md and its reference): both sides of each.
    ({"prompt": "rain", "duration": 2.9}, "duration"),
    ({"prompt": "rain", "duration": "10.1"}, "duration"),
    ({"prompt": "rain", "duration": 3.55}, "duration"),
    ({"prompt": "rain"}, "duration"),
    ({"prompt": "x" * 201, "duration": 5}, "prompt"),
    ({"duration": 5}, "prompt"),
    ({"prompt": "rain", "duration": 5, "negative_prompt": "music"}, "negative_prompt"),
])
async def test_text_to_audio_refuses_what_kling_or_the_model_cannot_take(
        http: httpx.AsyncClient, creds: Credentials, body: dict[str, object],
        field: str) -> None:
    response = await http.post("/v1/audio/text-to-audio", headers=creds.headers, json=body)
    data = response.json()
    assert (response.status_code, data["code"]) == (400, 1201), data
    assert data["message"].startswith(f"{field}: "), data


@pytest.mark.parametrize("body", [{"prompt": "x" * 200, "duration": 3.0},
                                  {"prompt": "rain", "duration": "10.0"}])
async def test_text_to_audio_takes_klings_limits_themselves(
        http: httpx.AsyncClient, creds: Credentials, body: dict[str, object]) -> None:
    response = await http.post("/v1/audio/text-to-audio", headers=creds.headers, json=body)
    assert response.status_code == 200, response.text
    task_id = response.json()["data"]["task_id"]
    cancelled = await http.post(f"/v1/audio/text-to-audio/{task_id}/cancel",
                                headers=creds.headers)
    assert cancelled.status_code == 200


async def test_expand_makes_n_pngs_of_the_expanded_size_with_the_image_kept(
        http: httpx.AsyncClient, creds: Credentials, image_url: str) -> None:
    # Kling's ratios are times the image's side: 400x800 -> 400 x 1.5 by 800 x 1.5.
    created = await http.post("/kling/v1/images/editing/expand", headers=creds.headers,
                              json={"image": image_url, "up_expansion_ratio": 0.25,
                                    "down_expansion_ratio": 0.25, "left_expansion_ratio": 0.5,
                                    "right_expansion_ratio": 0, "prompt": "a meadow", "n": 2})
    assert created.status_code == 200, created.text
    task_id = created.json()["data"]["task_id"]
    done = await wait_for_status(http, f"/v1/images/editing/expand/{task_id}", creds.headers,
                                 {"succeed", "failed"}, timeout=300)
    assert done["task_status"] == "succeed", done
    images = done["task_result"]["images"]  # type: ignore[index]
    assert [i["index"] for i in images] == [0, 1]
    original = Image.open(io.BytesIO(UPRIGHT)).convert("RGB")
    for image in images:
        picture = Image.open(io.BytesIO((await http.get(image["url"])).content))
        assert picture.format == "PNG" and picture.size == (600, 1200)
        # the image sits 200 px from the left, 200 px from the top, unchanged
        assert picture.convert("RGB").crop((200, 200, 600, 1000)).tobytes() == \
            original.tobytes()


async def test_multi_image2video_from_a_url_and_base64_renders_the_asked_mp4(
        http: httpx.AsyncClient, creds: Credentials, image_url: str, tmp_path: Path) -> None:
    """kling-api.md: image_list[{image}] (URL or raw base64), prompt, duration, aspect_ratio;
    the result is videos[{id, url, duration}] like every video family's."""
    second = base64.b64encode(png(500, 400, (200, 40, 40))).decode()
    created = await http.post("/kling/v1/videos/multi-image2video", headers=creds.headers,
                              json={"model_name": "kling-v1-6", "prompt": "they dance",
                                    "image_list": [{"image": image_url}, {"image": second}],
                                    "duration": "5", "aspect_ratio": "9:16", "mode": "std"})
    assert created.status_code == 200, created.text
    task_id = created.json()["data"]["task_id"]
    done = await wait_for_status(http, f"/v1/videos/multi-image2video/{task_id}", creds.headers,
                                 {"succeed", "failed"}, timeout=300)
    assert done["task_status"] == "succeed", done
    [video] = done["task_result"]["videos"]  # type: ignore[index]
    # 5 s at the tiny VACE's 16 fps: 81 frames (4k + 1), 81 / 16 = 5.0625 s.
    assert video["duration"] == f"{81 / 16:.1f}"
    path = tmp_path / "v.mp4"
    path.write_bytes((await http.get(video["url"])).content)
    info = probe(path)
    assert (info["frames"], info["fps"]) == (81, 16)
    assert info["size"] == (48, 80)  # 9:16: the tiny 80x48 frame turned upright
    assert info["duration"] == pytest.approx(81 / 16, abs=0.07)
    # The same task under another family is not found (a task id belongs to its family).
    other = await http.get(f"/v1/videos/image2video/{task_id}", headers=creds.headers)
    assert (other.status_code, other.json()["code"]) == (404, 1203)


async def test_multi_image2image_from_two_subjects_and_a_scene_makes_n_pngs(
        http: httpx.AsyncClient, creds: Credentials, image_url: str) -> None:
    """kling-api.md: subject_image_list[{subject_image}] (URL or raw base64), scene_image,
    prompt, n, aspect_ratio; the result is images[{index, url}] like every image family's."""
    second = base64.b64encode(png(500, 400, (200, 40, 40))).decode()
    scene = base64.b64encode(png(400, 400, (40, 200, 40))).decode()
    created = await http.post("/kling/v1/images/multi-image2image", headers=creds.headers,
                              json={"model_name": "kling-v2", "prompt": "the two at a picnic",
                                    "subject_image_list": [{"subject_image": image_url},
                                                           {"subject_image": second}],
                                    "scene_image": scene, "n": 2, "aspect_ratio": "1:1"})
    assert created.status_code == 200, created.text
    task_id = created.json()["data"]["task_id"]
    done = await wait_for_status(http, f"/v1/images/multi-image2image/{task_id}",
                                 creds.headers, {"succeed", "failed"}, timeout=300)
    assert done["task_status"] == "succeed", done
    images = done["task_result"]["images"]  # type: ignore[index]
    assert [i["index"] for i in images] == [0, 1]
    for image in images:
        picture = Image.open(io.BytesIO((await http.get(image["url"])).content))
        assert picture.format == "PNG" and picture.size == (64, 64)  # 1:1 of the tiny area


@pytest.mark.parametrize(("body", "field"), [
    ({"subject_image_list": None}, "subject_image_list"),  # Kling's subjects are required
    ({"subject_image_list": [{"subject_image": "IMAGE"}] * 5}, "subject_image_list"),
    ({"subject_image_list": []}, "subject_image_list"),
    ({"subject_image_list": [{"subject_image": "IMAGE"},
                             {"subject_image": "bm90IGFuIGltYWdl"}]},
     "subject_image_list.1.subject_image"),
    ({"style_image": "bm90IGFuIGltYWdl"}, "style_image"),
    ({"prompt": None}, "prompt"),
    ({"prompt": "x" * 2501}, "prompt"),
    ({"n": 0}, "n"),
    ({"n": 10}, "n"),
    ({"aspect_ratio": "5:4"}, "aspect_ratio"),
    ({"negative_prompt": "blur"}, "negative_prompt"),
    ({"subject_image_list": [{"subject_image": "IMAGE", "weight": 2}]},
     "subject_image_list.0.weight"),
])
async def test_multi_image2image_refuses_what_kling_or_the_model_cannot_take(
        http: httpx.AsyncClient, creds: Credentials, body: dict[str, object],
        field: str) -> None:
    image = base64.b64encode(png(320, 320)).decode()
    sent: dict[str, object] = {"prompt": "p", "subject_image_list": [{"subject_image": image}],
                               **body}
    if isinstance(sent["subject_image_list"], list):
        sent["subject_image_list"] = [
            {**item, "subject_image": image} if item.get("subject_image") == "IMAGE" else item
            for item in sent["subject_image_list"]]
    sent = {key: value for key, value in sent.items() if value is not None}
    response = await http.post("/v1/images/multi-image2image", headers=creds.headers,
                               json=sent)
    data = response.json()
    assert (response.status_code, data["code"]) == (400, 1201), data
    assert data["message"].startswith(f"{field}: "), data


@pytest.mark.parametrize(("mount", "body", "size"), [
    # auto: the first image's shape (the 400 x 800 URL's 1:2) at the tiny 1k's 64 x 64 area,
    # sides multiples of 16.
    ("/kling/v1", {"prompt": "<<<image_2>>> wears the hat of <<<image_1>>>", "n": 2,
                   "aspect_ratio": "auto"}, (48, 96)),
    # 2k: the tiny 2k's 128 x 128 area, at 1:1.
    ("/v1", {"prompt": "<<<image_1>>> in snow", "n": 3, "resolution": "2k",
             "aspect_ratio": "1:1", "watermark_info": {"enabled": False}}, (128, 128)),
])
async def test_omni_image_from_a_url_and_base64_makes_n_pngs(
        http: httpx.AsyncClient, creds: Credentials, image_url: str, mount: str,
        body: dict[str, object], size: tuple[int, int]) -> None:
    """kling-api.md: prompt naming image_list[{image}] (URL or raw base64) as <<<image_N>>>,
    n, resolution, aspect_ratio; the result is images[{index, url}] like every image
    family's."""
    second = base64.b64encode(png(500, 400, (200, 40, 40))).decode()
    created = await http.post(f"{mount}/images/omni-image", headers=creds.headers, json={
        "model_name": "kling-image-o1", "image_list": [{"image": image_url},
                                                       {"image": second}], **body})
    assert created.status_code == 200, created.text
    task_id = created.json()["data"]["task_id"]
    done = await wait_for_status(http, f"{mount}/images/omni-image/{task_id}", creds.headers,
                                 {"succeed", "failed"}, timeout=300)
    assert done["task_status"] == "succeed", done
    images = done["task_result"]["images"]  # type: ignore[index]
    assert [i["index"] for i in images] == list(range(int(str(body["n"]))))
    for image in images:
        picture = Image.open(io.BytesIO((await http.get(image["url"])).content))
        assert picture.format == "PNG" and picture.size == size


async def _pictures(http: httpx.AsyncClient, creds: Credentials, path: str,
                    body: dict[str, object]) -> list[tuple[int, int]]:
    """The sizes of the PNGs a task of `path` made, created with `body` and polled to its
    end."""
    created = await http.post(path, headers=creds.headers, json=body)
    assert created.status_code == 200, created.text
    task_id = created.json()["data"]["task_id"]
    done = await wait_for_status(http, f"{path}/{task_id}", creds.headers,
                                 {"succeed", "failed"}, timeout=300)
    assert done["task_status"] == "succeed", done
    sizes = []
    for image in done["task_result"]["images"]:  # type: ignore[index]
        picture = Image.open(io.BytesIO((await http.get(image["url"])).content))
        assert picture.format == "PNG"
        sizes.append(picture.size)
    return sizes


@pytest.mark.parametrize(("mount", "body", "as_generation"), [
    # auto with no image to follow: 1:1, at the tiny images model's 1k (128 x 128).
    ("/kling/v1", {"n": 2}, {"n": 2, "aspect_ratio": "1:1"}),
    ("/v1", {"image_list": [], "aspect_ratio": "16:9", "resolution": "2k"},
     {"aspect_ratio": "16:9", "resolution": "2k"}),
])
async def test_omni_image_from_text_alone_makes_what_images_generations_makes(
        http: httpx.AsyncClient, creds: Credentials, mount: str, body: dict[str, object],
        as_generation: dict[str, object]) -> None:
    """A text-only omni-image is valid on Kling; Qwen-Image-Edit Plus needs a picture, so
    the images/generations model renders it (docs/providers.md, "Omni-image")."""
    prompt = {"model_name": "kling-image-o1", "prompt": "a lighthouse at dusk"}
    omni = await _pictures(http, creds, f"{mount}/images/omni-image", {**prompt, **body})
    generated = await _pictures(http, creds, f"{mount}/images/generations",
                                {**prompt, "model_name": "kling-v2", **as_generation})
    assert omni == generated
    if "resolution" not in body:
        assert omni == [(128, 128)] * 2


@pytest.mark.parametrize(("body", "field"), [
    ({"image_list": [{"image": "IMAGE"}] * 11}, "image_list"),  # Kling takes up to 10
    ({"image_list": [{"image": "IMAGE"}, {"image": "bm90IGFuIGltYWdl"}]}, "image_list.1.image"),
    ({"image_list": [{"image": "IMAGE", "weight": 2}]}, "image_list.0.weight"),
    ({"element_list": [{"element_id": 829}]}, "element_list"),  # no element library here
    ({"prompt": None}, "prompt"),
    ({"prompt": "x" * 2501}, "prompt"),
    ({"prompt": "<<<image_2>>> in snow"}, "prompt"),  # one image sent
    ({"n": 0}, "n"),
    ({"n": 10}, "n"),
    ({"aspect_ratio": "5:4"}, "aspect_ratio"),
    ({"resolution": "4k"}, "resolution"),
    ({"negative_prompt": "blur"}, "negative_prompt"),
])
async def test_omni_image_refuses_what_kling_or_the_model_cannot_take(
        http: httpx.AsyncClient, creds: Credentials, body: dict[str, object],
        field: str) -> None:
    image = base64.b64encode(png(320, 320)).decode()
    sent: dict[str, object] = {"prompt": "<<<image_1>>> in snow",
                               "image_list": [{"image": image}], **body}
    if isinstance(sent["image_list"], list):
        sent["image_list"] = [{**item, "image": image} if item.get("image") == "IMAGE" else item
                              for item in sent["image_list"]]
    sent = {key: value for key, value in sent.items() if value is not None}
    for mount in ("/v1", "/kling/v1"):
        response = await http.post(f"{mount}/images/omni-image", headers=creds.headers,
                                   json=sent)
        data = response.json()
        assert (response.status_code, data["code"]) == (400, 1201), data
        assert data["message"].startswith(f"{field}: "), data


@pytest.mark.parametrize(("body", "field"), [
    ({"image_list": None}, "image_list"),  # none: Kling's image_list is required
    ({"image_list": [{"image": "IMAGE"}] * 5}, "image_list"),  # Kling takes up to 4
    ({"image_list": []}, "image_list"),
    ({"image_list": [{"image": "IMAGE"}, {"image": "bm90IGFuIGltYWdl"}]}, "image_list.1.image"),
    ({"prompt": None}, "prompt"),
    ({"prompt": "x" * 2501}, "prompt"),
    ({"aspect_ratio": "4:3"}, "aspect_ratio"),
    ({"mode": "ultra"}, "mode"),
    ({"duration": "7"}, "duration"),  # kling-v1-6 takes 5 and 10
    ({"camera_control": {"type": "down_back"}}, "camera_control"),
    ({"image_list": [{"image": "IMAGE", "type": "first_frame"}]}, "image_list.0.type"),
])
async def test_multi_image2video_refuses_what_kling_or_the_model_cannot_take(
        http: httpx.AsyncClient, creds: Credentials, body: dict[str, object],
        field: str) -> None:
    image = base64.b64encode(png(320, 320)).decode()
    sent: dict[str, object] = {"prompt": "they dance", "image_list": [{"image": image}], **body}
    if isinstance(sent["image_list"], list):
        sent["image_list"] = [{**item, "image": image} if item.get("image") == "IMAGE" else item
                              for item in sent["image_list"]]
    sent = {key: value for key, value in sent.items() if value is not None}
    response = await http.post("/v1/videos/multi-image2video", headers=creds.headers,
                               json=sent)
    data = response.json()
    assert (response.status_code, data["code"]) == (400, 1201), data
    assert data["message"].startswith(f"{field}: "), data


@pytest.mark.parametrize(("body", "field"), [
    # Kling's limits: each ratio 0..2, at most 3 times the area, n 1..9, prompt <= 2500.
    ({"up_expansion_ratio": 2.01}, "up_expansion_ratio"),
    ({"left_expansion_ratio": -0.1}, "left_expansion_ratio"),
    ({"left_expansion_ratio": 1, "right_expansion_ratio": 1, "up_expansion_ratio": 0.1},
     "up_expansion_ratio"),
    ({}, "up_expansion_ratio"),
    ({"up_expansion_ratio": 1, "n": 10}, "n"),
    ({"up_expansion_ratio": 1, "n": 0}, "n"),
    ({"up_expansion_ratio": 1, "prompt": "x" * 2501}, "prompt"),
    ({"up_expansion_ratio": 1, "negative_prompt": "people"}, "negative_prompt"),
    ({"up_expansion_ratio": 1, "image": None}, "image"),
])
async def test_expand_refuses_what_kling_or_the_model_cannot_take(
        http: httpx.AsyncClient, creds: Credentials, image_url: str, body: dict[str, object],
        field: str) -> None:
    body = {"image": image_url, **body}
    response = await http.post("/v1/images/editing/expand", headers=creds.headers, json=body)
    data = response.json()
    assert (response.status_code, data["code"]) == (400, 1201), data
    assert data["message"].startswith(f"{field}: "), data


@pytest.mark.parametrize("body", [
    {"up_expansion_ratio": 2.0, "n": 9, "prompt": "x" * 2500},
    {"left_expansion_ratio": 1, "right_expansion_ratio": 1, "up_expansion_ratio": 0,
     "n": 1, "watermark_info": {"enabled": False}},
])
async def test_expand_takes_klings_limits_themselves(
        http: httpx.AsyncClient, creds: Credentials, image_url: str,
        body: dict[str, object]) -> None:
    response = await http.post("/v1/images/editing/expand", headers=creds.headers,
                               json={"image": image_url, **body})
    assert response.status_code == 200, response.text
    task_id = response.json()["data"]["task_id"]
    cancelled = await http.post(f"/v1/images/editing/expand/{task_id}/cancel",
                                headers=creds.headers)
    assert cancelled.status_code == 200


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/v1/videos/text2video", {"prompt": "x", "camera_control": {"type": "down_back"}},
     "camera_control"),
    ("/v1/videos/text2video", {"prompt": "x", "voice_list": [{"voice_id": "v"}]}, "voice_list"),
    ("/v1/videos/image2video", {"image": "IMAGE", "image_tail": "IMAGE"}, "image_tail"),
    ("/v1/videos/image2video", {"image": "IMAGE", "static_mask": "IMAGE"}, "static_mask"),
])
async def test_fields_the_local_models_cannot_honour_are_refused(
    http: httpx.AsyncClient, creds: Credentials, image_url: str, path: str,
    body: dict[str, object], field: str,
) -> None:
    body = {k: (image_url if v == "IMAGE" else v) for k, v in body.items()}
    response = await http.post(path, headers=creds.headers, json=body)
    data = response.json()
    assert (response.status_code, data["code"]) == (400, 1201), data
    assert data["message"].startswith(f"{field}: not supported by "), data


async def test_an_accepted_and_ignored_field_is_reported(http: httpx.AsyncClient,
                                                         creds: Credentials) -> None:
    created = await http.post("/v1/videos/text2video", headers=creds.headers,
                              json={"prompt": "x", "sound": "on", "duration": 3,
                                    "model_name": "kling-v2-6"})
    assert created.status_code == 200, created.text
    task_id = created.json()["data"]["task_id"]
    got = (await http.get(f"/v1/videos/text2video/{task_id}", headers=creds.headers)).json()
    assert got["data"]["task_status_msg"] == "ignored by this server: sound"
    done = await wait_for_status(http, f"/v1/videos/text2video/{task_id}", creds.headers,
                                 {"succeed", "failed"}, timeout=300)
    assert done["task_status"] == "succeed"
    assert done["task_status_msg"] == "ignored by this server: sound"


@pytest.mark.parametrize(("path", "body"), [
    # What real clients send by default for features they do not use (issue 19).
    ("/v1/videos/text2video", {"prompt": "x", "sound": "off", "multi_shot": False,
                               "watermark_info": {"enabled": False}, "voice_list": [],
                               "camera_control": None}),
    ("/v1/videos/image2video", {"image": "IMAGE", "sound": "off", "multi_shot": False,
                                "watermark_info": {"enabled": False}, "camera_control": None}),
    # The official image node's defaults: human_fidelity 0.45 and no reference image.
    ("/v1/images/generations", {"prompt": "x", "human_fidelity": 0.45, "image_fidelity": 0.5,
                                "model_name": "kling-v2"}),
])
async def test_values_that_ask_for_nothing_are_accepted_by_the_local_models(
    http: httpx.AsyncClient, creds: Credentials, image_url: str, path: str,
    body: dict[str, object],
) -> None:
    body = {k: (image_url if v == "IMAGE" else v) for k, v in body.items()}
    response = await http.post(path, headers=creds.headers, json=body)
    assert response.status_code == 200, response.text
    task_id = response.json()["data"]["task_id"]
    cancelled = await http.post(f"{path}/{task_id}/cancel", headers=creds.headers)
    assert cancelled.status_code == 200


async def _rendered(http: httpx.AsyncClient, creds: Credentials, prefix: str,
                    body: dict[str, object], tmp_path: Path) -> tuple[dict[str, object],
                                                                      dict[str, object]]:
    """An omni-video created through `prefix`, polled to its end, its MP4 probed."""
    created = await http.post(f"{prefix}/videos/omni-video", headers=creds.headers, json=body)
    assert created.status_code == 200, created.text
    task_id = created.json()["data"]["task_id"]
    done = await wait_for_status(http, f"{prefix}/videos/omni-video/{task_id}", creds.headers,
                                 {"succeed", "failed"}, timeout=300)
    assert done["task_status"] == "succeed", done
    [video] = done["task_result"]["videos"]  # type: ignore[index]
    assert set(video) >= {"id", "url", "duration"}
    path = tmp_path / f"{task_id}.mp4"
    path.write_bytes((await http.get(video["url"])).content)
    return video, probe(path)


async def test_omni_video_from_reference_images_renders_the_asked_mp4(
        http: httpx.AsyncClient, creds: Credentials, image_url: str, tmp_path: Path) -> None:
    """kling-api.md: image_list[{image_url}] (URL or raw base64; no type: references),
    prompt with <<<image_N>>>, duration, aspect_ratio; the result is videos[{id, url,
    duration}]."""
    second = base64.b64encode(png(500, 400, (200, 40, 40))).decode()
    video, info = await _rendered(http, creds, "/v1", {
        "model_name": "kling-video-o1", "prompt": "<<<image_1>>> meets <<<image_2>>>",
        "image_list": [{"image_url": image_url}, {"image_url": second}],
        "duration": "3", "aspect_ratio": "1:1", "mode": "std", "sound": "off"}, tmp_path)
    # 3 s at the tiny VACE's 16 fps: 49 frames (4k + 1), 49 / 16 = 3.06 s.
    assert video["duration"] == f"{49 / 16:.1f}"
    assert (info["frames"], info["fps"], info["size"]) == (49, 16, (48, 48))
    assert info["duration"] == pytest.approx(49 / 16, abs=0.07)


async def test_omni_video_from_a_first_and_an_end_frame_follows_the_first_frames_shape(
        http: httpx.AsyncClient, creds: Credentials, image_url: str, tmp_path: Path) -> None:
    """No aspect_ratio with a first frame: the ratio nearest the first frame's (1:2 -> 9:16)."""
    end = base64.b64encode(png(400, 800, (40, 40, 200))).decode()
    video, info = await _rendered(http, creds, "/kling/v1", {
        "prompt": "from <<<image_1>>> to <<<image_2>>>", "duration": 5,
        "image_list": [{"image_url": image_url, "type": "first_frame"},
                       {"image_url": end, "type": "end_frame"}],
        "watermark_info": {"enabled": False}, "multi_shot": False}, tmp_path)
    assert video["duration"] == f"{81 / 16:.1f}"
    assert (info["frames"], info["fps"], info["size"]) == (81, 16, (48, 80))


async def test_omni_video_from_text_alone_renders_16_9(
        http: httpx.AsyncClient, creds: Credentials, tmp_path: Path) -> None:
    video, info = await _rendered(http, creds, "/kling/v1", {
        "model_name": "kling-video-o1", "prompt": "a fox in snow", "duration": 3}, tmp_path)
    assert video["duration"] == f"{49 / 16:.1f}"
    assert (info["frames"], info["size"]) == (49, (80, 48))


def _source_mp4(tmp_path: Path, size: tuple[int, int], frames: int, fps: int) -> bytes:
    """An MP4 of `frames` frames of `size` at `fps` (a moving gradient), as a client sends."""
    width, height = size
    ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    video = np.stack([np.broadcast_to((ramp + 7 * index) % 256, (height, width, 3))
                      for index in range(frames)]).astype(np.uint8)
    return write_mp4(video, tmp_path / "source.mp4", fps).path.read_bytes()


async def test_omni_video_edits_a_base_video_in_its_shape_and_length(
        http: httpx.AsyncClient, creds: Credentials, image_url: str, tmp_path: Path) -> None:
    """video_list[{video_url, refer_type: "base"}]: the video to edit, fetched at create.
    The edit covers the source in its shape, as Kling's does (duration and aspect_ratio do
    not apply): an upright 96 x 160 source of 3.5 s (85 frames at 24 fps) makes the tiny
    VACE's 3840-pixel area in that shape (48 x 80) over 3.5 s at 16 fps (57 frames)."""
    with image_host(_source_mp4(tmp_path, (96, 160), 85, 24)) as url:
        video, info = await _rendered(http, creds, "/v1", {
            "model_name": "kling-video-o1", "prompt": "<<<image_1>>> walks into <<<video_1>>>",
            "image_list": [{"image_url": image_url}],
            "video_list": [{"video_url": url, "refer_type": "base",
                            "keep_original_sound": "no"}],
            "duration": "5", "aspect_ratio": "16:9"}, tmp_path)
    assert (info["frames"], info["fps"], info["size"]) == (57, 16, (48, 80))
    assert video["duration"] == f"{57 / 16:.1f}"


async def test_a_refused_create_leaves_no_stored_video_to_edit(
        http: httpx.AsyncClient, creds: Credentials, server: ServerHandle,
        tmp_path: Path) -> None:
    """The video is stored at create before the last checks (here the external_task_id,
    already used): a create that does not happen removes it."""
    first = await http.post("/v1/videos/omni-video", headers=creds.headers, json={
        "prompt": "a fox in snow", "duration": 3, "external_task_id": "edit-once"})
    assert first.status_code == 200, first.text
    inputs = server.data_dir / "files" / "inputs"
    before = set(inputs.rglob("*.mp4")) if inputs.exists() else set()
    with image_host(_source_mp4(tmp_path, (96, 160), 57, 16)) as url:
        response = await http.post("/v1/videos/omni-video", headers=creds.headers, json={
            "prompt": "make it snow", "video_list": [{"video_url": url}],
            "external_task_id": "edit-once"})
    data = response.json()
    assert (response.status_code, data["code"]) == (400, 1201), data
    assert data["message"].startswith("external_task_id: "), data
    after = set(inputs.rglob("*.mp4")) if inputs.exists() else set()
    assert after == before


@pytest.mark.parametrize(("what", "message"), [
    ("png", "video_list.0.video_url: must be an MP4 or MOV video"),
    ("2s", "video_list.0.video_url: its frames span 2.00 s: it must be 3-10 s"),
])
async def test_omni_video_refuses_a_video_to_edit_it_cannot_take(
        http: httpx.AsyncClient, creds: Credentials, tmp_path: Path, what: str,
        message: str) -> None:
    """Kling's edits take 3-10 s of MP4 or MOV; the file is fetched and probed at create."""
    body = png(320, 320) if what == "png" else _source_mp4(tmp_path, (96, 160), 33, 16)
    with image_host(body) as url:
        response = await http.post("/kling/v1/videos/omni-video", headers=creds.headers,
                                   json={"prompt": "make it snow",
                                         "video_list": [{"video_url": url}]})
    data = response.json()
    assert (response.status_code, data["code"]) == (400, 1201), data
    assert data["message"].startswith(message), data


@pytest.mark.parametrize(("body", "field"), [
    ({"prompt": None}, "prompt"),
    ({"prompt": "x" * 2501}, "prompt"),
    ({"prompt": "<<<image_2>>> runs"}, "prompt"),
    ({"prompt": "<<<element_1>>> runs"}, "prompt"),
    ({"image_list": [{"image_url": "IMAGE"}] * 8}, "image_list"),
    ({"image_list": [{"image_url": "IMAGE", "type": "end_frame"}]}, "image_list"),
    ({"image_list": [{"image_url": "IMAGE", "type": "first_frame"},
                     {"image_url": "IMAGE", "type": "end_frame"}, {"image_url": "IMAGE"}]},
     "image_list"),
    ({"image_list": [{"image_url": "IMAGE", "type": "last_frame"}]}, "image_list.0.type"),
    ({"image_list": [{"image": "IMAGE"}]}, "image_list.0.image_url"),
    ({"duration": "2"}, "duration"),
    ({"duration": "11"}, "duration"),
    ({"aspect_ratio": "4:3"}, "aspect_ratio"),
    ({"element_list": [{"element_id": 829833855335161946}]}, "element_list"),
    # Refused before anything is fetched (the URL is never asked for).
    ({"video_list": [{"video_url": "https://example.com/v.mp4", "refer_type": "feature"}]},
     "video_list.0.refer_type"),
    ({"video_list": [{"video_url": "https://example.com/v.mp4",
                      "keep_original_sound": "yes"}]}, "video_list.0.keep_original_sound"),
    ({"video_list": [{"video_url": "https://example.com/v.mp4"}] * 2}, "video_list"),
    ({"video_list": [{"video_url": "https://example.com/v.mp4"}],
      "image_list": [{"image_url": "IMAGE", "type": "first_frame"}]}, "image_list"),
    ({"sound": "on"}, "sound"),
    ({"multi_shot": True, "shot_type": "intelligence"}, "multi_shot"),
    ({"camera_control": {"type": "down_back"}}, "camera_control"),
])
async def test_omni_video_refuses_what_kling_or_the_model_cannot_take(
        http: httpx.AsyncClient, creds: Credentials, body: dict[str, object],
        field: str) -> None:
    image = base64.b64encode(png(320, 320)).decode()
    sent: dict[str, object] = {"prompt": "<<<image_1>>> runs",
                               "image_list": [{"image_url": image}], **body}
    if isinstance(sent["image_list"], list):
        sent["image_list"] = [{**item, **{key: image for key, value in item.items()
                                          if value == "IMAGE"}}
                              for item in sent["image_list"]]
    sent = {key: value for key, value in sent.items() if value is not None}
    for prefix in ("/v1", "/kling/v1"):
        response = await http.post(f"{prefix}/videos/omni-video", headers=creds.headers,
                                    json=sent)
        data = response.json()
        assert (response.status_code, data["code"]) == (400, 1201), data
        assert data["message"].startswith(f"{field}: "), data


@pytest.mark.parametrize("body", [
    {"prompt": "x" * 2500, "duration": "10", "image_list": [{"image_url": "IMAGE"}] * 7},
    {"prompt": "<<<image_1>>> runs", "sound": "off", "multi_shot": False, "element_list": [],
     "video_list": [], "watermark_info": {"enabled": False},
     "image_list": [{"image_url": "IMAGE", "type": "first_frame"}, {"image_url": "IMAGE"}]},
])
async def test_omni_video_takes_klings_limits_and_values_that_ask_for_nothing(
        http: httpx.AsyncClient, creds: Credentials, body: dict[str, object]) -> None:
    image = base64.b64encode(png(320, 320)).decode()
    body = {**body, "image_list": [{**item, "image_url": image}
                                   for item in body["image_list"]]}  # type: ignore[attr-defined]
    response = await http.post("/v1/videos/omni-video", headers=creds.headers, json=body)
    assert response.status_code == 200, response.text
    task_id = response.json()["data"]["task_id"]
    cancelled = await http.post(f"/v1/videos/omni-video/{task_id}/cancel",
                                headers=creds.headers)
    assert cancelled.status_code == 200
