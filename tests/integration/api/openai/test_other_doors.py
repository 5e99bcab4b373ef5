"""Videos made through the OpenAI door are ordinary tasks to everything else: this project's
SDK, its CLI (`openkling task get|list|download`) and the console list and show them with
their family, beside Kling-created tasks."""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI
from PIL import Image
from typer.testing import CliRunner

from openkling.cli.main import app
from openkling.client import KlingClient, TaskStatus
from tests.conftest import Credentials, ServerHandle

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


def data_url(width: int, height: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="module")
def creds(shared_server: ServerHandle) -> Credentials:
    return shared_server.create_key("other-doors")


@pytest.fixture(scope="module")
def made(shared_server: ServerHandle, creds: Credentials) -> Iterator[dict[str, str]]:
    """One OpenAI text video and one OpenAI image video, both completed, and a Kling task."""
    client = OpenAI(base_url=f"{shared_server.base_url}/v1", api_key=creds.api_key,
                    max_retries=0)
    text = client.videos.create(prompt="a fox")
    image = client.videos.create(prompt="a red frame",
                                 extra_body={"input_reference": {"image_url":
                                                                 data_url(640, 360)}})
    kling = httpx.post(f"{shared_server.base_url}/v1/videos/text2video", headers=creds.headers,
                       json={"prompt": "kling"}).json()["data"]["task_id"]
    for video_id in (text.id, image.id):
        while client.videos.retrieve(video_id).status not in ("completed", "failed"):
            time.sleep(0.1)
    yield {"text": text.id, "image": image.id, "kling": kling}


def test_the_project_sdk_sees_openai_videos_with_their_family(
        shared_server: ServerHandle, creds: Credentials, made: dict[str, str]) -> None:
    with KlingClient(base_url=shared_server.base_url, api_key=creds.api_key) as client:
        text = client.text2video.get(made["text"])
        image = client.image2video.get(made["image"])
        assert (text.task_id, text.status) == (made["text"], TaskStatus.SUCCEED)
        assert (image.task_id, image.status) == (made["image"], TaskStatus.SUCCEED)
        listed = {task.task_id for task in client.text2video.list(page_size=100)}
        assert {made["text"], made["kling"]} <= listed


def test_the_cli_gets_lists_and_downloads_openai_videos(
        shared_server: ServerHandle, creds: Credentials, made: dict[str, str],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENKLING_CLIENT_CONFIG", str(tmp_path / "client.toml"))
    conn = ["--base-url", shared_server.base_url, "--api-key", creds.api_key]
    runner = CliRunner()
    got = runner.invoke(app, ["task", "get", made["image"], "--family", "image2video",
                              "--json", *conn])
    assert got.exit_code == 0, got.output
    assert json.loads(got.stdout)["task_id"] == made["image"]
    listed = runner.invoke(app, ["task", "list", "--json", *conn])
    assert listed.exit_code == 0, listed.output
    assert made["text"] in {t["task_id"] for t in json.loads(listed.stdout)}
    saved = runner.invoke(app, ["task", "download", made["text"], "-o", str(tmp_path), *conn])
    assert saved.exit_code == 0, saved.output
    assert any(path.suffix == ".mp4" for path in tmp_path.iterdir())


def test_the_console_lists_and_shows_openai_videos(
        shared_server: ServerHandle, creds: Credentials, made: dict[str, str]) -> None:
    base = shared_server.base_url
    listed: list[dict[str, Any]] = httpx.get(f"{base}/console/api/tasks?pageSize=100",
                                             headers=creds.headers).json()["data"]
    families = {task["task_id"]: task["family"] for task in listed}
    assert families[made["text"]] == "videos/text2video"
    assert families[made["image"]] == "videos/image2video"
    assert families[made["kling"]] == "videos/text2video"
    detail = httpx.get(f"{base}/console/api/tasks/{made['image']}", headers=creds.headers)
    assert detail.status_code == 200, detail.text
    assert detail.json()["data"]["task_id"] == made["image"]
