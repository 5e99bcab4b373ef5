"""The official `openai` SDK against `openkling serve --model tiny-random-wan`, on SQLite and
PostgreSQL: create -> poll -> download the video, thumbnail and spritesheet -> list -> remix
-> input_reference -> delete, and the errors the SDK turns into its exception classes. The
same scenario runs through the relay in front of the Kling simulator double.

Expected shapes come from the SDK's own types (`openai.types.Video`, its cursor page) and
docs/api.md ("OpenAI's Videos API"), not from the server's code.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import openai
import pytest
from openai import OpenAI
from PIL import Image

from tests.conftest import (
    SHARED_ENV,
    TINY_WAN_ENV,
    Credentials,
    ServerHandle,
    create_postgres_database,
    drop_postgres_database,
    postgres_skip_reason,
    running_server,
)
from tests.doubles.kling_simulator import KlingSimulatorDouble, RunningSimulator
from tests.integration.providers.kling.conftest import AK, FAST, SK
from tests.support.images import png

pytestmark = [pytest.mark.slow, pytest.mark.acceptance,
              # The SDK marks its video methods deprecated (OpenAI's own service ends).
              pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")]

#: docs/api.md: a spritesheet is up to 16 evenly spaced frames, each scaled so that its longer
#: side is at most 256 px, in rows of ceil(sqrt(n)).
SPRITE_FRAMES, SPRITE_CELL = 16, 256


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def local_server(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    env = {**SHARED_ENV, **TINY_WAN_ENV, "OPENKLING_MAX_ATTEMPTS": "1"}
    url = None
    if request.param == "postgresql":
        reason = postgres_skip_reason()
        if reason:
            pytest.skip(reason)
        url = create_postgres_database()
        env["OPENKLING_DATABASE_URL"] = url
    try:
        with running_server(tmp_path_factory.mktemp(f"openai-{request.param}"), "diffusers",
                            env) as handle:
            yield handle
    finally:
        if url:
            drop_postgres_database(url)


@pytest.fixture(scope="module")
def relay_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    sim = KlingSimulatorDouble(access_keys={AK: SK}, processing_after=0.1, finish_after=0.4)
    upstream = RunningSimulator(sim).start()
    data_dir = tmp_path_factory.mktemp("openai-relay")
    config = data_dir / "relay.toml"
    channel = {"name": "acct", "base_url": upstream.base_url, "access_key": AK,
               "secret_key": SK, "timeout": 5.0}
    config.write_text("[provider_options.kling]\n" + "".join(
        f"{key} = {json.dumps(value)}\n" for key, value in FAST.items())
        + "channels = [{" + ", ".join(f"{k} = {json.dumps(v)}" for k, v in channel.items())
        + "}]\n")
    try:
        with running_server(data_dir, "kling", {**SHARED_ENV,
                                                "OPENKLING_CONFIG": str(config)}) as handle:
            handle.simulator = sim  # type: ignore[attr-defined]
            yield handle
    finally:
        upstream.stop()


def sdk(server: ServerHandle, key: str) -> OpenAI:
    return OpenAI(base_url=f"{server.base_url}/v1", api_key=key, max_retries=0, timeout=60)


def wait_done(client: OpenAI, video_id: str, timeout: float = 300) -> Any:
    """Retrieve until the video is completed or failed (what `videos.poll` does)."""
    deadline = time.monotonic() + timeout
    while True:
        video = client.videos.retrieve(video_id)
        if video.status in ("completed", "failed"):
            return video
        assert video.status in ("queued", "in_progress"), video
        assert time.monotonic() < deadline, f"video stuck: {video}"
        time.sleep(0.2)


def frames_of(mp4: bytes) -> tuple[int, tuple[int, int]]:
    with av.open(io.BytesIO(mp4)) as container:
        stream = container.streams.video[0]
        frames = [frame for frame in container.decode(stream)]
        return len(frames), (frames[0].width, frames[0].height)


def check_downloads(client: OpenAI, video_id: str) -> None:
    mp4 = client.videos.download_content(video_id).read()
    count, (width, height) = frames_of(mp4)
    assert count > 0
    thumbnail = Image.open(io.BytesIO(
        client.videos.download_content(video_id, variant="thumbnail").read()))
    assert thumbnail.format == "WEBP" and thumbnail.size == (width, height)
    sheet = Image.open(io.BytesIO(
        client.videos.download_content(video_id, variant="spritesheet").read()))
    picked = min(count, SPRITE_FRAMES)
    columns = math.ceil(math.sqrt(picked))
    rows = math.ceil(picked / columns)
    scale = min(1.0, SPRITE_CELL / max(width, height))
    cell = (max(1, round(width * scale)), max(1, round(height * scale)))
    assert sheet.format == "JPEG" and sheet.size == (columns * cell[0], rows * cell[1])


def run_scenario(server: ServerHandle, creds: Credentials, other: Credentials) -> None:
    client = sdk(server, creds.api_key)

    created = client.videos.create(prompt="a red fox in the snow", size="1280x720",
                                   seconds="4")
    assert isinstance(created, openai.types.Video)
    assert created.id.startswith("video_") and created.object == "video"
    assert (created.model, created.size, created.seconds) == ("sora-2", "1280x720", "4")
    assert created.status == "queued" and created.progress == 0
    assert created.completed_at is None and created.error is None

    done = wait_done(client, created.id)
    assert done.status == "completed", done
    assert done.progress == 100 and done.completed_at is not None
    assert done.completed_at >= done.created_at and done.prompt == "a red fox in the snow"
    # docs/api.md: it expires when retention deletes it, 30 days after completion by default.
    assert done.expires_at is not None
    assert abs(done.expires_at - (done.completed_at + 30 * 24 * 3600)) <= 1
    check_downloads(client, created.id)

    # The Kling door shows the same task under its family, with the same id.
    kling = httpx.get(f"{server.base_url}/v1/videos/text2video/{created.id}",
                      headers=creds.headers, timeout=30).json()
    assert kling["code"] == 0 and kling["data"]["task_id"] == created.id
    assert kling["data"]["task_status"] == "succeed"
    file_url = kling["data"]["task_result"]["videos"][0]["url"]

    remix = client.videos.remix(created.id, prompt="a blue fox in the snow")
    assert remix.remixed_from_video_id == created.id and remix.id != created.id
    assert (remix.size, remix.seconds, remix.model) == ("1280x720", "4", "sora-2")
    assert wait_done(client, remix.id).status == "completed"

    upload = client.videos.create(prompt="the leaves move", size="720x1280", seconds="4",
                                  input_reference=("frame.png", png(400, 720), "image/png"))
    assert wait_done(client, upload.id).status == "completed"
    as_kling = httpx.get(f"{server.base_url}/v1/videos/image2video/{upload.id}",
                         headers=creds.headers, timeout=30).json()
    assert as_kling["data"]["task_status"] == "succeed"

    # list: newest first by default, cursor paging the SDK follows by itself.
    first = client.videos.list(limit=1)
    assert [v.id for v in first.data] == [upload.id] and first.has_more is True
    assert [v.id for v in client.videos.list(limit=1)] == [upload.id, remix.id, created.id]
    oldest = client.videos.list(order="asc", limit=2)
    assert [v.id for v in oldest.data] == [created.id, remix.id]
    assert [v.id for v in client.videos.list(order="asc", after=remix.id).data] == [upload.id]

    # errors, as the SDK raises them
    with pytest.raises(openai.AuthenticationError):
        sdk(server, "ok-not-a-key").videos.retrieve(created.id)
    stranger = sdk(server, other.api_key)
    with pytest.raises(openai.NotFoundError):
        stranger.videos.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        stranger.videos.delete(created.id)
    assert stranger.videos.list().data == []
    with pytest.raises(openai.BadRequestError) as bad:
        client.videos.create(prompt="x", size="1280x1000")  # type: ignore[arg-type]
    assert bad.value.param == "size" and "size" in bad.value.message

    deleted = client.videos.delete(created.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (created.id, True, "video.deleted")
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        client.videos.download_content(created.id)
    assert httpx.get(file_url, timeout=30).status_code == 404  # its file is gone too
    assert [v.id for v in client.videos.list()] == [upload.id, remix.id]


def test_the_openai_sdk_end_to_end_on_a_local_model(local_server: ServerHandle) -> None:
    run_scenario(local_server, local_server.create_key("openai"),
                 local_server.create_key("stranger"))


def test_the_openai_sdk_end_to_end_through_the_relay(relay_server: ServerHandle) -> None:
    run_scenario(relay_server, relay_server.create_key("openai"),
                 relay_server.create_key("stranger"))
    sim: KlingSimulatorDouble = relay_server.simulator  # type: ignore[attr-defined]
    # Upstream, exactly once each: text2video (create, remix) and image2video (the upload).
    assert [path.rsplit("/", 1)[-1] for path in sim.create_paths] == [
        "text2video", "text2video", "image2video"]
    assert all("front" not in body for body in sim.create_bodies)  # our notes stay here
    assert sim.create_bodies[0]["aspect_ratio"] == "16:9"
    assert sim.create_bodies[0]["duration"] == "5"


def test_a_seconds_value_the_model_cannot_make_names_seconds(
        local_server: ServerHandle, tmp_path: Path) -> None:
    client = sdk(local_server, local_server.create_key("seconds").api_key)
    with pytest.raises(openai.BadRequestError) as bad:
        client.videos.create(prompt="a fox", seconds="12")  # kling-v1 makes at most 10 s
    assert bad.value.param == "seconds"


def test_the_readmes_openai_example_runs_as_written(local_server: ServerHandle,
                                                    tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = text.split("## Use it like OpenAI", 1)[1]
    example = re.findall(r"```python\n(.*?)```", section, re.DOTALL)[0]
    creds = local_server.create_key("readme")
    env = {**os.environ, "OPENKLING_BASE_URL": local_server.base_url,
           "OPENKLING_API_KEY": creds.api_key, "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    run = subprocess.run([sys.executable, "-c", example], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    count, (width, height) = frames_of((tmp_path / "cat.mp4").read_bytes())
    assert count > 0 and width > height  # 1280x720: 16:9
