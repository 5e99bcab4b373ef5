"""Acceptance: `openkling serve --model tiny-random-ltx2` honours Kling's `sound: "on"`.

A create with sound on succeeds and its MP4 carries an AAC track beside video of the frame
count, frame rate and size the request implies (tiny LTX-2: 64x32 at 16:9, 2 fps, 2k + 1
frames, so 5 s is 11 frames; docs/providers.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import pytest

from tests.conftest import ServerHandle, running_server
from tests.support.diffusers import probe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    with running_server(tmp_path_factory.mktemp("ltx2-server"), "diffusers", {
        "OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__MODEL": "tiny-random-ltx2",
        "OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__DEVICE": "cpu",
        "OPENKLING_MAX_ATTEMPTS": "1",
    }) as handle:
        yield handle


def test_sound_on_renders_an_mp4_with_an_audio_stream(server: ServerHandle,
                                                      tmp_path: Path) -> None:
    key = server.create_key("ltx2-tester")
    with httpx.Client(base_url=server.base_url, headers=key.headers, timeout=30) as http:
        created = http.post("/v1/videos/text2video", json={
            "model_name": "kling-v2-6", "prompt": "rain on a tin roof", "duration": "5",
            "aspect_ratio": "16:9", "sound": "on"})
        assert created.status_code == 200, created.text
        task_id = created.json()["data"]["task_id"]
        deadline = time.monotonic() + 180
        while True:
            task = http.get(f"/v1/videos/text2video/{task_id}").json()["data"]
            if task["task_status"] in ("succeed", "failed"):
                break
            assert time.monotonic() < deadline, task
            time.sleep(0.1)
        assert task["task_status"] == "succeed", task
        [video] = task["task_result"]["videos"]
        download = http.get(video["url"])
    assert download.status_code == 200
    path = tmp_path / "video.mp4"
    path.write_bytes(download.content)
    info = probe(path)
    assert (info["frames"], info["fps"], info["size"]) == (11, 2, (64, 32))
    with av.open(str(path)) as container:
        [audio] = container.streams.audio
        assert audio.codec_context.name == "aac"
        assert sum(frame.samples for frame in container.decode(audio)) > 0
