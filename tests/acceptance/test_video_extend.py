"""videos/video-extend on the README's server (`openkling serve --model tiny-random-wan`):
a text2video task succeeds, its video is extended by id, and the MP4 downloaded is the whole
extended video (kling-api.md: `video_id` of an earlier result; `task_result.videos[{id,
url, duration}]` with `duration` a string of seconds). Another account's video id and an
unknown one are refused at create: 400 / 1201 naming `video_id` (a body field, not a path
resource: kling-api.md's "invalid parameter ... say which field and why")."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    TINY_WAN_ENV,
    Credentials,
    ServerHandle,
    server_env,
    wait_for_status,
)
from tests.support.diffusers import probe

pytestmark = pytest.mark.slow

#: What the tiny text-to-video model makes for duration "5": 81 frames of 80x48 at 16 fps.
SOURCE_FRAMES, FPS, SIZE = 81, 16, (80, 48)
#: The continuation: 5 s at the source's 16 fps, whole latent frames of 8.
ADDED_FRAMES = 80


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    data_dir = tmp_path_factory.mktemp("extend-tiny")
    handle = ServerHandle(data_dir=data_dir, env=server_env(
        data_dir, "diffusers", {**TINY_WAN_ENV, "OPENKLING_MAX_ATTEMPTS": "1"}))
    try:  # the tiny model loads in seconds, minutes on a busy shared CPU
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
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
        yield client


async def succeeded(http: httpx.AsyncClient, creds: Credentials, family: str,
                    body: dict[str, object]) -> dict[str, object]:
    created = await http.post(f"/v1/{family}", headers=creds.headers, json=body)
    assert created.status_code == 200, created.text
    task_id = created.json()["data"]["task_id"]
    done = await wait_for_status(http, f"/v1/{family}/{task_id}", creds.headers,
                                 {"succeed", "failed"}, timeout=400)
    assert done["task_status"] == "succeed", done
    return done


@pytest.fixture(scope="module")
def source(server: ServerHandle, owner: Credentials) -> dict[str, str]:
    """The owner's succeeded text2video task's video (polled without an event loop: the
    fixture is shared by the module)."""
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        created = http.post("/v1/videos/text2video", headers=owner.headers,
                            json={"prompt": "a fox in the snow", "duration": "5"})
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


async def test_a_video_of_the_account_is_extended_by_five_seconds(
        http: httpx.AsyncClient, owner: Credentials, source: dict[str, str],
        tmp_path: Path) -> None:
    done = await succeeded(http, owner, "videos/video-extend",
                           {"video_id": source["id"], "prompt": "the fox runs on",
                            "negative_prompt": "blur", "cfg_scale": 0.5})
    [video] = done["task_result"]["videos"]  # type: ignore[index]
    assert set(video) >= {"id", "url", "duration"} and video["id"] != source["id"]
    total = SOURCE_FRAMES + ADDED_FRAMES
    # The whole extended video's duration, as a string like every Kling duration.
    assert isinstance(video["duration"], str)
    assert float(video["duration"]) == pytest.approx(total / FPS, abs=0.05)
    assert float(video["duration"]) > float(source["duration"])
    path = tmp_path / "extended.mp4"
    path.write_bytes((await http.get(video["url"])).content)
    info = probe(path)
    assert (info["codec"], info["frames"], info["fps"], info["size"]) == (
        "h264", total, float(FPS), SIZE)
    assert info["duration"] == pytest.approx(total / FPS, abs=0.05)


async def test_an_extended_video_is_extended_again(
        http: httpx.AsyncClient, owner: Credentials, source: dict[str, str]) -> None:
    first = await succeeded(http, owner, "videos/video-extend", {"video_id": source["id"]})
    [once] = first["task_result"]["videos"]  # type: ignore[index]
    second = await succeeded(http, owner, "videos/video-extend", {"video_id": once["id"]})
    [twice] = second["task_result"]["videos"]  # type: ignore[index]
    assert float(twice["duration"]) == pytest.approx(
        (SOURCE_FRAMES + 2 * ADDED_FRAMES) / FPS, abs=0.05)


async def refusal(http: httpx.AsyncClient, creds: Credentials,
                  body: dict[str, object]) -> str:
    response = await http.post("/kling/v1/videos/video-extend", headers=creds.headers,
                               json=body)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["code"] == 1201 and answer["data"] is None
    message: str = answer["message"]
    return message


async def test_another_accounts_video_id_is_refused(
        http: httpx.AsyncClient, stranger: Credentials, source: dict[str, str]) -> None:
    message = await refusal(http, stranger, {"video_id": source["id"], "prompt": "mine now"})
    assert message.startswith("video_id: ")
    # Exactly what an unknown id gets: nothing tells the other account's video exists.
    unknown = await refusal(http, stranger, {"video_id": "0" * len(source["id"])})
    assert message.replace(source["id"], "X") == unknown.replace("0" * len(source["id"]), "X")


@pytest.mark.parametrize("video_id", ["866889456698785798", "no-such-video", ""])
async def test_an_unknown_or_missing_video_id_is_refused(
        http: httpx.AsyncClient, owner: Credentials, video_id: str) -> None:
    assert (await refusal(http, owner, {"video_id": video_id})).startswith("video_id: ")


async def test_a_task_id_is_not_a_video_id(http: httpx.AsyncClient, owner: Credentials,
                                           source: dict[str, str]) -> None:
    tasks = (await http.get("/v1/videos/text2video", headers=owner.headers)).json()["data"]
    task_id = next(t["task_id"] for t in tasks
                   if t["task_result"].get("videos", [{}])[0].get("id") == source["id"])
    assert (await refusal(http, owner, {"video_id": task_id})).startswith("video_id: ")


async def test_a_client_cannot_name_a_stored_file_itself(
        http: httpx.AsyncClient, stranger: Credentials, source: dict[str, str]) -> None:
    """`input_videos` is the server's own record of the lookup, never the client's."""
    forged = {"video_id": {"video_id": source["id"], "task_id": "1", "duration": 5,
                           "key": "videos/x/y.mp4"}}
    message = await refusal(http, stranger, {"video_id": source["id"],
                                              "input_videos": forged})
    assert message.startswith("video_id: ")


@pytest.mark.parametrize(("body", "field"), [
    ({"duration": "10"}, "duration"),
    ({"cfg_scale": 1.5}, "cfg_scale"),
    ({"prompt": "x" * 2501}, "prompt"),
    ({"aspect_ratio": "9:16"}, "aspect_ratio"),
])
async def test_fields_the_model_cannot_honour_are_refused(
        http: httpx.AsyncClient, owner: Credentials, source: dict[str, str],
        body: dict[str, object], field: str) -> None:
    message = await refusal(http, owner, {"video_id": source["id"], **body})
    assert message.startswith(f"{field}: ")
