"""videos/multi-elements on the README's server (`openkling serve --model tiny-random-wan`):
a text2video task's video opens a selection session, a click marks an element (SAM 2), the
preview shows it, and a removal and a swap repaint it (Wan VACE) into an MP4 covering the
source. Kling's contract (Kling's docs as public clients send them): init-selection {video_id}
-> {status 0, session_id, fps, original_duration (ms), width, height, total_frame,
normalized_video}; add-selection {session_id, frame_index, points [{x, y} in 0..1]} -> res
{frame_index, rle_mask_list [{object_id, rle_mask {size [h, w], counts}, png_mask {size,
base64}}]}; delete-selection with the points as added; clear-selection; preview-selection ->
res {video, video_cover, tracking_output}; the create's result videos [{id, session_id, url,
duration}]. Another account's session, an unknown one and one older than 24 h are "not
found" (404 / 1203)."""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as coco

from tests.conftest import (
    TINY_WAN_ENV,
    Credentials,
    ServerHandle,
    server_env,
    wait_for_status,
)
from tests.support.diffusers import probe
from tests.support.images import image_host, png

pytestmark = pytest.mark.slow

#: What the tiny text-to-video model makes for duration "5": 81 frames of 80x48 at 16 fps.
SOURCE_FRAMES, FPS, SIZE = 81, 16, (80, 48)
PATH = "/v1/videos/multi-elements"
CLICK = [{"x": 0.5, "y": 0.5}, {"x": 0.25, "y": 0.75}]
#: A PNG for the swap's reference image (300 px sides: Kling's image rules).
SWAP_IMAGE = base64.b64encode(
    (lambda out: (Image.new("RGB", (320, 320), (20, 200, 40)).save(out, "PNG"), out)[1])(
        io.BytesIO()).getvalue()).decode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    data_dir = tmp_path_factory.mktemp("multi-elements-tiny")
    handle = ServerHandle(data_dir=data_dir, env=server_env(
        data_dir, "diffusers", {**TINY_WAN_ENV, "OPENKLING_MAX_ATTEMPTS": "1",
                                # video_url on this loopback host (the outbound guard).
                                "OPENKLING_ALLOW_PRIVATE_IMAGE_URLS": "true"}))
    try:
        yield handle.start(timeout=600)
    finally:
        handle.stop(timeout=30)


@pytest.fixture(scope="module")
def owner(server: ServerHandle) -> Credentials:
    return server.create_key("owner")


@pytest.fixture(scope="module")
def stranger(server: ServerHandle) -> Credentials:
    return server.create_key("stranger")


@pytest.fixture
async def http(server: ServerHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=300) as client:
        yield client


@pytest.fixture(scope="module")
def source(server: ServerHandle, owner: Credentials) -> dict[str, str]:
    """The owner's succeeded text2video task's video."""
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        created = http.post("/v1/videos/text2video", headers=owner.headers,
                            json={"prompt": "a car on a road", "duration": "5"})
        assert created.status_code == 200, created.text
        task_id = created.json()["data"]["task_id"]
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline:
            task = http.get(f"/v1/videos/text2video/{task_id}",
                            headers=owner.headers).json()["data"]
            if task["task_status"] in ("succeed", "failed"):
                break
            time.sleep(0.5)
    assert task["task_status"] == "succeed", task
    [video] = task["task_result"]["videos"]
    return dict(video)


async def call(http: httpx.AsyncClient, creds: Credentials, action: str,
               body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    response = await http.post(f"{PATH}/{action}", headers=creds.headers, json=body)
    assert response.status_code == status, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def opened(http: httpx.AsyncClient, creds: Credentials, source: dict[str, str]) -> (
        dict[str, Any]):
    data: dict[str, Any] = (await call(http, creds, "init-selection",
                                       {"video_id": source["id"]}))["data"]
    return data


async def created(http: httpx.AsyncClient, creds: Credentials, body: dict[str, Any]) -> (
        dict[str, Any]):
    response = await http.post(PATH, headers=creds.headers, json=body)
    assert response.status_code == 200, response.text
    task_id = response.json()["data"]["task_id"]
    done: dict[str, Any] = await wait_for_status(http, f"{PATH}/{task_id}", creds.headers,
                                                 {"succeed", "failed"}, timeout=400)
    return done


def decoded(entry: dict[str, Any]) -> np.ndarray[Any, Any]:
    rle = entry["rle_mask"]
    mask: np.ndarray[Any, Any] = coco.decode({"size": rle["size"],
                                              "counts": rle["counts"].encode()})
    return mask.astype(bool)


async def test_a_session_marks_an_element_and_a_removal_repaints_it(
        http: httpx.AsyncClient, owner: Credentials, source: dict[str, str],
        tmp_path: Path) -> None:
    session = await opened(http, owner, source)
    assert session["status"] == 0 and isinstance(session["session_id"], str)
    assert (session["fps"], session["total_frame"]) == (FPS, SOURCE_FRAMES)
    assert (session["width"], session["height"]) == SIZE
    assert session["original_duration"] == round(SOURCE_FRAMES / FPS * 1000)  # 5063 ms
    normalized = tmp_path / "normalized.mp4"
    normalized.write_bytes((await http.get(session["normalized_video"])).content)
    assert probe(normalized)["frames"] == SOURCE_FRAMES
    sid = session["session_id"]

    added = (await call(http, owner, "add-selection",
                        {"session_id": sid, "frame_index": 10, "points": CLICK}))["data"]
    assert added["status"] == 0 and added["res"]["frame_index"] == 10
    [element] = added["res"]["rle_mask_list"]
    assert element["object_id"] == 1 and element["rle_mask"]["size"] == [48, 80]
    mask = decoded(element)
    png = Image.open(io.BytesIO(base64.b64decode(element["png_mask"]["base64"])))
    assert png.size == SIZE and np.array_equal(np.asarray(png) == 255, mask)

    # Deleting the points as added leaves no element; adding them again brings it back.
    deleted = (await call(http, owner, "delete-selection",
                          {"session_id": sid, "frame_index": 10, "points": CLICK}))["data"]
    assert deleted["res"]["rle_mask_list"] == []
    again = (await call(http, owner, "add-selection",
                        {"session_id": sid, "frame_index": 10, "points": CLICK}))["data"]
    assert np.array_equal(decoded(again["res"]["rle_mask_list"][0]), mask)

    preview = (await call(http, owner, "preview-selection", {"session_id": sid}))["data"]
    assert set(preview["res"]) == {"video", "video_cover", "tracking_output"}
    for field in ("video", "tracking_output"):
        path = tmp_path / f"{field}.mp4"
        path.write_bytes((await http.get(preview["res"][field])).content)
        assert (probe(path)["frames"], probe(path)["size"]) == (SOURCE_FRAMES, SIZE)
    cover = Image.open(io.BytesIO((await http.get(preview["res"]["video_cover"])).content))
    assert cover.size == SIZE

    done = await created(http, owner, {"session_id": sid, "edit_mode": "removal",
                                       "prompt": "an empty road"})
    assert done["task_status"] == "succeed", done
    [video] = done["task_result"]["videos"]
    assert video["session_id"] == sid and video["id"] != source["id"]
    path = tmp_path / "removed.mp4"
    path.write_bytes((await http.get(video["url"])).content)
    info = probe(path)
    # The source's 5 s span at the model's 16 fps: 81 frames (4k + 1), at the source's size.
    assert (info["frames"], info["fps"], info["size"]) == (SOURCE_FRAMES, float(FPS), SIZE)
    assert float(video["duration"]) == pytest.approx(SOURCE_FRAMES / FPS, abs=0.05)


async def test_a_swap_repaints_the_element_after_the_image(
        http: httpx.AsyncClient, owner: Credentials, source: dict[str, str],
        tmp_path: Path) -> None:
    sid = (await opened(http, owner, source))["session_id"]
    await call(http, owner, "add-selection", {"session_id": sid, "frame_index": 0,
                                              "points": CLICK[:1]})
    done = await created(http, owner, {"session_id": sid, "edit_mode": "swap",
                                       "image_list": [{"image": SWAP_IMAGE}],
                                       "prompt": "a green bus", "mode": "std",
                                       "duration": "5"})
    assert done["task_status"] == "succeed", done
    path = tmp_path / "swapped.mp4"
    path.write_bytes((await http.get(done["task_result"]["videos"][0]["url"])).content)
    assert probe(path)["frames"] == SOURCE_FRAMES


async def test_a_cleared_session_has_nothing_to_repaint(
        http: httpx.AsyncClient, owner: Credentials, source: dict[str, str]) -> None:
    sid = (await opened(http, owner, source))["session_id"]
    await call(http, owner, "add-selection", {"session_id": sid, "frame_index": 5,
                                              "points": CLICK})
    cleared = (await call(http, owner, "clear-selection", {"session_id": sid}))["data"]
    assert cleared == {"status": 0, "session_id": sid}
    refused = await call(http, owner, "preview-selection", {"session_id": sid}, 400)
    assert refused["code"] == 1201 and refused["message"].startswith("session_id: ")
    response = await http.post(PATH, headers=owner.headers, json={
        "session_id": sid, "edit_mode": "removal", "prompt": "x"})
    assert response.status_code == 400 and response.json()["code"] == 1201
    assert response.json()["message"].startswith("session_id: ")


async def not_found(http: httpx.AsyncClient, creds: Credentials, sid: str) -> list[str]:
    """Every session call and the create, answered 404 / 1203."""
    messages = []
    for action, body in (("add-selection", {"frame_index": 0, "points": CLICK}),
                         ("delete-selection", {"frame_index": 0, "points": CLICK}),
                         ("clear-selection", {}), ("preview-selection", {})):
        answer = await call(http, creds, action, {"session_id": sid, **body}, 404)
        assert answer["code"] == 1203 and answer["data"] is None
        messages.append(answer["message"])
    response = await http.post(PATH, headers=creds.headers, json={
        "session_id": sid, "edit_mode": "removal", "prompt": "x"})
    assert response.status_code == 404 and response.json()["code"] == 1203
    messages.append(response.json()["message"])
    return messages


async def test_another_accounts_session_is_not_found(
        http: httpx.AsyncClient, owner: Credentials, stranger: Credentials,
        source: dict[str, str]) -> None:
    sid = (await opened(http, owner, source))["session_id"]
    theirs = await not_found(http, stranger, sid)
    # Exactly what an unknown id gets.
    assert theirs == await not_found(http, stranger, "1" * len(sid))
    # The owner's session is untouched.
    await call(http, owner, "add-selection", {"session_id": sid, "frame_index": 0,
                                              "points": CLICK})


async def test_a_session_older_than_24_hours_is_not_found(
        http: httpx.AsyncClient, server: ServerHandle, owner: Credentials,
        source: dict[str, str]) -> None:
    sid = (await opened(http, owner, source))["session_id"]
    stored = server.data_dir / "files" / "selections" / sid / "session.json"
    session = json.loads(stored.read_text())
    session["created_at"] -= 24 * 3600 * 1000 + 1000  # opened 24 h and 1 s ago
    stored.write_text(json.dumps(session))
    await not_found(http, owner, sid)


@pytest.mark.parametrize("sid", ["", "../../etc", "no-such-session", "9" * 40])
async def test_an_unknown_session_is_not_found(http: httpx.AsyncClient, owner: Credentials,
                                               sid: str) -> None:
    if not sid:
        answer = await call(http, owner, "add-selection", {"session_id": sid}, 400)
        assert answer["message"].startswith("session_id: ")
        return
    await not_found(http, owner, sid)


async def test_a_source_must_be_one_of_the_accounts_videos(
        http: httpx.AsyncClient, stranger: Credentials, source: dict[str, str]) -> None:
    answer = await call(http, stranger, "init-selection", {"video_id": source["id"]}, 400)
    assert answer["code"] == 1201 and answer["message"].startswith("video_id: ")
    answer = await call(http, stranger, "init-selection", {}, 400)
    assert answer["message"].startswith("video_id: ")


async def test_a_video_url_opens_a_session_of_that_file(
        http: httpx.AsyncClient, owner: Credentials, stranger: Credentials,
        source: dict[str, str]) -> None:
    """Any account may send a URL (the file is fetched, not looked up); a file that is no
    MP4/MOV video is refused naming video_url."""
    mp4 = (await http.get(source["url"])).content
    with image_host(mp4) as url:
        session = (await call(http, stranger, "init-selection", {"video_url": url}))["data"]
        assert (session["total_frame"], session["width"], session["height"]) == (
            SOURCE_FRAMES, *SIZE)
        both = await call(http, owner, "init-selection",
                          {"video_url": url, "video_id": source["id"]}, 400)
        assert both["message"].startswith("video_url: ")
    with image_host(png(320, 320)) as url:
        answer = await call(http, stranger, "init-selection", {"video_url": url}, 400)
    assert answer["code"] == 1201 and answer["message"].startswith("video_url: ")


async def test_addition_is_refused_by_the_local_provider(
        http: httpx.AsyncClient, owner: Credentials, source: dict[str, str]) -> None:
    sid = (await opened(http, owner, source))["session_id"]
    await call(http, owner, "add-selection", {"session_id": sid, "frame_index": 0,
                                              "points": CLICK})
    response = await http.post(PATH, headers=owner.headers, json={
        "session_id": sid, "edit_mode": "addition", "prompt": "a dog",
        "image_list": [{"image": SWAP_IMAGE}]})
    assert response.status_code == 400 and response.json()["code"] == 1201
    assert response.json()["message"].startswith("edit_mode: ")
    # "10" needs a 7-10 s source; this one spans 5 s.
    response = await http.post(PATH, headers=owner.headers, json={
        "session_id": sid, "edit_mode": "removal", "prompt": "x", "duration": "10"})
    assert response.status_code == 400 and response.json()["message"].startswith("duration: ")
