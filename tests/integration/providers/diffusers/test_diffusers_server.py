"""End to end: `openkling serve` with the diffusers provider and the tiny random Wan model.

One server for the module (each start spawns a model process that imports torch). The model
process is found as the server's child running multiprocessing's spawn_main.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import TINY_WAN_ENV, Credentials, ServerHandle, running_server
from tests.support.diffusers import model_children, probe

PRO_STEPS = 400  # a pro task renders long enough to be killed mid-way


def model_pids(server: ServerHandle) -> list[int]:
    """The server's model process(es)."""
    assert server.process is not None
    return model_children(server.process.pid)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    with running_server(tmp_path_factory.mktemp("diffusers-server"), "diffusers", {
        **TINY_WAN_ENV,
        "OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__PRO_STEPS": str(PRO_STEPS),
        "OPENKLING_MAX_ATTEMPTS": "1",
        "OPENKLING_RATE_LIMIT_PER_SECOND": "100000",
        "OPENKLING_RATE_LIMIT_BURST": "100000",
    }) as handle:
        yield handle


@pytest.fixture(scope="module")
def key(server: ServerHandle) -> Credentials:
    return server.create_key("diffusers-tester")


@pytest.fixture
async def client(server: ServerHandle, key: Credentials) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, headers=key.headers,
                                 timeout=30) as http:
        yield http


async def create(client: httpx.AsyncClient, **body: object) -> str:
    response = await client.post("/kling/v1/videos/text2video",
                                 json={"model_name": "kling-v1", **body})
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["task_id"])


async def wait_until(client: httpx.AsyncClient, task_id: str, statuses: set[str],
                     timeout: float = 90, min_progress: int = 0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get(f"/kling/v1/videos/text2video/{task_id}")
        assert response.status_code == 200, response.text
        task: dict[str, object] = response.json()["data"]
        if task["task_status"] in statuses and int(str(task["progress"])) >= min_progress:
            return task
        assert time.monotonic() < deadline, f"task stuck: {task}"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("body", "frames", "size"),
    [
        ({"aspect_ratio": "16:9", "duration": "5"}, 81, (80, 48)),
        ({"aspect_ratio": "1:1", "duration": 10, "cfg_scale": 0.9,
          "negative_prompt": "rain"}, 161, (48, 48)),
    ],
)
async def test_kling_create_renders_the_mp4_the_request_implies(
    client: httpx.AsyncClient, body: dict[str, object], frames: int, size: tuple[int, int],
    tmp_path: Path,
) -> None:
    task_id = await create(client, prompt="a red fox running through snow", **body)
    task = await wait_until(client, task_id, {"succeed", "failed"})
    assert task["task_status"] == "succeed", task
    assert task["progress"] == 100
    [video] = task["task_result"]["videos"]  # type: ignore[index]
    assert float(video["duration"]) == pytest.approx(frames / 16, abs=0.05)

    download = await client.get(video["url"])
    assert download.status_code == 200
    assert download.headers["content-type"] == "video/mp4"
    path = tmp_path / "video.mp4"
    path.write_bytes(download.content)
    info = probe(path)
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p"
    assert info["frames"] == frames
    assert info["size"] == size
    assert info["duration"] == pytest.approx(frames / 16, abs=1e-3)


async def test_camera_control_is_rejected_at_create(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/videos/text2video", json={
        "prompt": "a fox", "camera_control": {"type": "simple", "config": {"zoom": 5}},
    })
    assert response.status_code == 400
    envelope = response.json()
    assert envelope["code"] == 1201
    assert "camera_control" in envelope["message"]
    assert envelope["message"].startswith("camera_control: not supported by")


async def test_polls_keep_answering_while_a_video_renders(client: httpx.AsyncClient) -> None:
    """Full-speed polling (4 clients) during a render: every poll answers, the render ends."""
    task_id = await create(client, prompt="a lighthouse at dusk", duration="5")
    answered: list[int] = []
    done = asyncio.Event()

    async def poll() -> None:
        while not done.is_set():
            response = await client.get(f"/v1/videos/text2video/{task_id}")
            answered.append(response.status_code)
            if response.json()["data"]["task_status"] in ("succeed", "failed"):
                done.set()

    await asyncio.wait_for(asyncio.gather(*(poll() for _ in range(4))), timeout=120)
    task = await wait_until(client, task_id, {"succeed", "failed"})
    assert task["task_status"] == "succeed", task
    assert len(answered) > 4 and set(answered) == {200}


async def test_cancel_stops_the_render_between_steps_and_keeps_the_model_warm(
    client: httpx.AsyncClient, server: ServerHandle
) -> None:
    task_id = await create(client, prompt="a long render to cancel", mode="pro", duration="5")
    running = await wait_until(client, task_id, {"processing"}, min_progress=1)
    [pid] = model_pids(server)
    response = await client.post(f"/v1/videos/text2video/{task_id}/cancel")
    assert response.status_code == 200, response.text

    task = await wait_until(client, task_id, {"succeed", "failed"})
    assert task["task_status"] == "failed"
    assert "cancel" in str(task["task_status_msg"])
    assert int(str(task["progress"])) < 95  # stopped long before the last of the steps
    assert int(str(running["progress"])) >= 1
    assert model_pids(server) == [pid]  # same warm process, no restart


async def test_a_killed_model_process_fails_the_task_and_the_next_one_succeeds(
    client: httpx.AsyncClient, server: ServerHandle
) -> None:
    task_id = await create(client, prompt="a long render", mode="pro", duration="5")
    await wait_until(client, task_id, {"processing"}, min_progress=1)
    [pid] = model_pids(server)
    os.kill(pid, signal.SIGKILL)

    task = await wait_until(client, task_id, {"succeed", "failed"})
    assert task["task_status"] == "failed"
    assert "model process exited unexpectedly" in str(task["task_status_msg"])
    assert "SIGKILL" in str(task["task_status_msg"])
    assert (await client.get("/v1/videos/text2video?pageNum=1&pageSize=5")).status_code == 200

    next_id = await create(client, prompt="after the crash", duration="5")
    after = await wait_until(client, next_id, {"succeed", "failed"})
    assert after["task_status"] == "succeed", after
    assert model_pids(server) not in ([], [pid])


def test_the_system_page_lists_the_local_models_and_the_names_they_serve(
    server: ServerHandle,
) -> None:
    from tests.integration.api.test_admin_routes import admin_key

    root = admin_key(server, "catalogue-admin")
    response = httpx.get(server.base_url + "/admin/v1/system", headers=root.headers, timeout=30)
    assert response.status_code == 200, response.text
    rows = {row["name"]: row for row in response.json()["data"]["local_models"]}
    tiny = rows["tiny-random-wan"]
    assert tiny["provider"] == "diffusers" and tiny["served"] is True
    assert "kling-v1" in tiny["kling_models"]["videos/text2video"]
    assert tiny["test_model"] == "tiny-random-wan" and tiny["audio"] is False
    assert rows["Wan-AI/Wan2.1-T2V-1.3B-Diffusers"]["served"] is False


def test_stopping_the_server_stops_its_model_process(server: ServerHandle) -> None:
    pids = model_pids(server)
    assert len(pids) == 1
    server.stop(timeout=30)
    assert not Path(f"/proc/{pids[0]}").exists()

