"""Every Kling family through a real openkling relay in front of the Kling simulator double:
each create is accepted with Kling's own model names and a realistic inline image, forwarded
upstream exactly once with the client's fields as sent (unknown ones included), ends
`succeed`, and its result files (videos, images, sounds) are openkling's own, fetchable.

The server's image body limit is capped at 4 MiB here so that both sides of it are cheap to
test: the ~1.4 MB base64 images below fit, a 5 MB body is refused with 413."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.conftest import SHARED_ENV, Credentials, ServerHandle, running_server, wait_for_status
from tests.doubles.kling_simulator import KlingSimulatorDouble, RunningSimulator

pytestmark = pytest.mark.slow

STATIC_KEY = "sk-simulated-kling-account"
CAP = 4 * 1024 * 1024


def _noise_png(side: int) -> str:
    """Base64 of a PNG of noise (incompressible: its size is what a photo's would be)."""
    pixels = np.random.default_rng(side).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


IMAGE = _noise_png(600)  # ~1.4 MB as base64: a realistic photo
SMALL = _noise_png(320)
FUTURE = {"future_field": {"added": "by Kling next month"}}

#: One create per family, as Kling's docs and real clients spell it (kling-api.md), with
#: Kling's model names where the route takes one.
BODIES: dict[str, dict[str, Any]] = {
    "videos/text2video": {"model_name": "kling-v2-6", "prompt": "a fox", "duration": "5",
                          "sound": "on", "multi_shot": False, **FUTURE},
    "videos/image2video": {"model_name": "kling-v2-1", "image": IMAGE, "prompt": "leaves",
                           "duration": "5", **FUTURE},
    "images/generations": {"model_name": "kling-v2", "prompt": "a lighthouse", "image": IMAGE,
                           "human_fidelity": 0.45, "n": 2, **FUTURE},
    "videos/omni-video": {"model_name": "kling-video-o1", "prompt": "<<<image_1>>> runs",
                          "image_list": [{"image_url": IMAGE, "type": "first_frame"}],
                          "mode": "pro", "duration": "5", "sound": "off", **FUTURE},
    "videos/multi-image2video": {"model_name": "kling-v1-6", "prompt": "they dance",
                                 "image_list": [{"image": IMAGE}, {"image": SMALL}],
                                 "duration": "5", "aspect_ratio": "16:9", **FUTURE},
    "videos/video-extend": {"video_id": "866889456698785798", "prompt": "more", **FUTURE},
    "videos/lip-sync": {"input": {"video_id": "866889456698785798", "mode": "audio2video",
                                  "audio_type": "file", "audio_file": SMALL}, **FUTURE},
    "videos/effects": {"effect_scene": "hug", "input": {"model_name": "kling-v1-6",
                                                        "mode": "std", "duration": "5",
                                                        "images": [IMAGE, SMALL]}, **FUTURE},
    "videos/avatar/image2video": {"image": IMAGE, "sound_file": SMALL, "prompt": "speaks",
                                  "mode": "std", **FUTURE},
    "videos/multi-elements": {"model_name": "kling-v1-6", "session_id": "828033558945619987",
                              "edit_mode": "addition", "image_list": [{"image": IMAGE}],
                              "prompt": "add <<<image_1>>> to <<<video_1>>>", "mode": "std",
                              "duration": "5", **FUTURE},
    "images/kolors-virtual-try-on": {"model_name": "kolors-virtual-try-on-v1",
                                     "human_image": IMAGE, "cloth_image": SMALL, **FUTURE},
    "images/omni-image": {"model_name": "kling-image-o1", "prompt": "<<<image_1>>> in snow",
                          "image_list": [{"image": IMAGE}], "n": 1, "resolution": "1k",
                          "aspect_ratio": "1:1", **FUTURE},
    "images/multi-image2image": {"model_name": "kling-v2", "prompt": "together",
                                 "subject_image_list": [{"subject_image": IMAGE}],
                                 "scene_image": SMALL, "n": 1, **FUTURE},
    "images/editing/expand": {"image": IMAGE, "up_expansion_ratio": 0.2,
                              "down_expansion_ratio": 0.2, "left_expansion_ratio": 0.1,
                              "right_expansion_ratio": 0.1, "prompt": "sky", **FUTURE},
    "audio/text-to-audio": {"prompt": "rain on a tin roof", "duration": 3.5, **FUTURE},
    "audio/video-to-audio": {"video_id": "866889456698785798", "sound_effect_prompt": "rain",
                             "bgm_prompt": "piano", **FUTURE},
}
#: Families served by a local model too: the stored form adds Kling's defaults (sent
#: explicitly) and keeps the image as the stored copy's base64; every field sent is forwarded.
LOCAL_FAMILIES = {"videos/text2video", "videos/image2video", "images/generations"}


@pytest.fixture(scope="module")
def upstream() -> Iterator[RunningSimulator]:
    sim = KlingSimulatorDouble(api_keys=(STATIC_KEY,), concurrency_limit=100,
                               processing_after=0.1, finish_after=0.4)
    running = RunningSimulator(sim).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def relay(upstream: RunningSimulator,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    with running_server(tmp_path_factory.mktemp("relay"), "kling", {
        **SHARED_ENV,
        "OPENKLING_MAX_IMAGE_BODY_BYTES": str(CAP),
        "OPENKLING_PROVIDER_OPTIONS__KLING__BASE_URL": upstream.base_url,
        "OPENKLING_PROVIDER_OPTIONS__KLING__API_KEY": STATIC_KEY,
        "OPENKLING_PROVIDER_OPTIONS__KLING__FIRST_POLL_AFTER": "0.1",
        "OPENKLING_PROVIDER_OPTIONS__KLING__MAX_POLL_INTERVAL": "0.3",
        "OPENKLING_PROVIDER_OPTIONS__KLING__LIST_INTERVAL": "0.3",
    }) as server:
        yield server


@pytest.fixture(scope="module")
def client_key(relay: ServerHandle) -> Credentials:
    return relay.create_key("families")


@pytest.fixture
async def http(relay: ServerHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=relay.base_url, timeout=60) as client:
        yield client




async def test_every_family_is_relayed_once_verbatim_and_its_results_rehosted(
        http: httpx.AsyncClient, client_key: Credentials, upstream: RunningSimulator,
        relay: ServerHandle) -> None:
    headers = client_key.headers
    created: dict[str, str] = {}
    for path, body in BODIES.items():
        answer = await http.post(f"/v1/{path}", headers=headers, json=body)
        assert answer.status_code == 200, (path, answer.text)
        created[path] = answer.json()["data"]["task_id"]
    done = await asyncio.gather(*(
        wait_for_status(http, f"/kling/v1/{path}/{task_id}", headers, {"succeed", "failed"},
                        timeout=120)
        for path, task_id in created.items()))
    sim = upstream.sim
    expected = {"mp4": sim.video, "png": sim.image, "mp3": sim.mp3, "wav": sim.wav}
    for (path, task_id), task in zip(created.items(), done, strict=True):
        assert task["task_status"] == "succeed", (path, task)
        # forwarded once, to the family's own route, with the client's fields as sent
        assert sim.submits[task_id] == 1, path
        [forwarded] = [b for b in sim.create_bodies if b.get("external_task_id") == task_id]
        assert sim.create_paths[sim.create_bodies.index(forwarded)] == path
        sent = BODIES[path]
        if path in LOCAL_FAMILIES:
            assert {k: forwarded.get(k) for k in sent} == sent, path
        else:
            assert forwarded == {**sent, "external_task_id": task_id}, path
        # every result file is openkling's own copy of the upstream's
        urls = _result_urls(task["task_result"])  # type: ignore[arg-type]
        assert urls, (path, task)
        for kind, url in urls:
            assert url.startswith(relay.base_url), (path, url)
            file = await http.get(url)
            assert file.status_code == 200 and file.content == expected[kind], (path, url)


def _result_urls(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, url) of every file in a task_result, in Kling's shapes."""
    urls = [("mp4", v["url"]) for v in result.get("videos", [])]
    urls += [("png", i["url"]) for i in result.get("images", [])]
    for audio in result.get("audios", []):
        assert set(audio) == {"id", "url_mp3", "url_wav", "duration_mp3", "duration_wav"}
        urls += [("mp3", audio["url_mp3"]), ("wav", audio["url_wav"])]
    return urls


async def test_the_try_on_clients_doubled_slash_poll_is_served(
        http: httpx.AsyncClient, client_key: Credentials) -> None:
    body = {"model_name": "kolors-virtual-try-on-v1", "human_image": SMALL,
            "cloth_image": SMALL}
    created = await http.post("/v1/images/kolors-virtual-try-on", headers=client_key.headers,
                              json=body)
    task_id = created.json()["data"]["task_id"]
    polled = await http.get(f"/v1/images/kolors-virtual-try-on//{task_id}",
                            headers=client_key.headers)
    assert polled.status_code == 200 and polled.json()["data"]["task_id"] == task_id


@pytest.mark.parametrize("path", ["images/kolors-virtual-try-on", "videos/multi-image2video",
                                  "videos/effects", "images/multi-image2image"])
async def test_a_body_over_the_familys_limit_is_refused_with_413(
        http: httpx.AsyncClient, client_key: Credentials, path: str) -> None:
    huge = base64.b64encode(b"\0" * (CAP * 3 // 4 + 1024)).decode()
    answer = await http.post(f"/v1/{path}", headers=client_key.headers,
                             json={"prompt": "x", "image": huge})
    body = answer.json()
    assert (answer.status_code, body["code"]) == (413, 1200)
    assert body["message"] == (f"request body is larger than {CAP} bytes, the limit of this "
                               "route (Kling takes images up to 10 MB each; send larger ones "
                               "as URLs)")


async def test_a_text_only_family_keeps_the_small_limit(
        http: httpx.AsyncClient, client_key: Credentials) -> None:
    answer = await http.post("/v1/audio/text-to-audio", headers=client_key.headers,
                             json={"prompt": "x" * (300 * 1024)})
    assert (answer.status_code, answer.json()["code"]) == (413, 1200)


async def test_a_multi_elements_selection_session_is_relayed_then_its_create(
        http: httpx.AsyncClient, client_key: Credentials, upstream: RunningSimulator) -> None:
    headers = client_key.headers
    base = "/kling/v1/videos/multi-elements"
    init = await http.post(f"{base}/init-selection", headers=headers,
                           json={"video_id": "866889456698785798"})
    assert init.status_code == 200, init.text
    session = init.json()["data"]["session_id"]
    points = {"session_id": session, "frame_index": 3, "points": [{"x": 0.4, "y": 0.5}]}
    for action, body in (("add-selection", points), ("delete-selection", points),
                         ("preview-selection", {"session_id": session})):
        answer = await http.post(f"{base}/{action}", headers=headers, json=body)
        assert answer.status_code == 200, (action, answer.text)
        assert answer.json()["data"]["session_id"] == session
        assert upstream.sim.selection_calls[-1] == (action, body)  # forwarded verbatim
    # Kling's own refusal reaches the client as Kling's error.
    refused = await http.post(f"{base}/clear-selection", headers=headers,
                              json={"session_id": "not-a-session"})
    assert (refused.status_code, refused.json()["code"]) == (400, 1201)
    assert refused.json()["message"].startswith("session_id is invalid")
    created = await http.post(base, headers=headers, json={
        "model_name": "kling-v1-6", "session_id": session, "edit_mode": "removal",
        "prompt": "remove <<<video_1>>>'s hat"})
    task_id = created.json()["data"]["task_id"]
    done = await wait_for_status(http, f"{base}/{task_id}", headers, {"succeed", "failed"},
                                 timeout=60)
    assert done["task_status"] == "succeed", done
