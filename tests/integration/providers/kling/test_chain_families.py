"""A relay chain of real servers for the families beyond text2video: server A routes some
models to the relay, whose one channel is server B, a real openkling making videos and
images with the tiny random diffusers models. A's other models stay on its local provider.

Each task created on A makes exactly one task on B (found by A's id as its external id), and
its results are A's own files."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.conftest import PROVIDER_DOUBLE, Credentials, ServerHandle, server_env, wait_for_status
from tests.doubles.receiver import CallbackReceiverDouble
from tests.support.diffusers import probe

pytestmark = pytest.mark.slow

RELAYED = {"kling-v2-6": {"provider": "kling", "durations": [3, 5, 10]},
           "kling-v1-5": {"provider": "kling"}}
SERVED_FAMILIES = "videos/text2video,videos/image2video,images/generations"


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


FIRST_FRAME = _png(400, 800)


class ImageHost(BaseHTTPRequestHandler):
    fetched = 0

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        ImageHost.fetched += 1
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(FIRST_FRAME)))
        self.end_headers()
        self.wfile.write(FIRST_FRAME)


@pytest.fixture(scope="module")
def image_url() -> Iterator[str]:
    host = ThreadingHTTPServer(("127.0.0.1", 0), ImageHost)
    threading.Thread(target=host.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{host.server_address[1]}/first.png"
    host.shutdown()
    host.server_close()


def _start(data_dir: Path, provider: str, env: dict[str, str]) -> ServerHandle:
    return ServerHandle(data_dir=data_dir, env=server_env(data_dir, provider, env)).start()


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerHandle, ServerHandle,
                                                                      Credentials]]:
    b = _start(tmp_path_factory.mktemp("b"), "diffusers", {
        "OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__MODEL": "tiny-random-wan",
        "OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__DEVICE": "cpu",
        "OPENKLING_MAX_ATTEMPTS": "1",
        "OPENKLING_ALLOW_PRIVATE_IMAGE_URLS": "true",
    })
    try:
        relay_account = b.create_key("relay-account")
        a = _start(tmp_path_factory.mktemp("a"), PROVIDER_DOUBLE, {
            "OPENKLING_MODELS": json.dumps(RELAYED),
            "OPENKLING_ALLOW_PRIVATE_IMAGE_URLS": "true",
            "OPENKLING_PROVIDER_OPTIONS__KLING__BASE_URL": b.base_url,
            "OPENKLING_PROVIDER_OPTIONS__KLING__PATH_PREFIX": "/kling",
            "OPENKLING_PROVIDER_OPTIONS__KLING__API_KEY": relay_account.api_key,
            "OPENKLING_PROVIDER_OPTIONS__KLING__FAMILIES": SERVED_FAMILIES,
            "OPENKLING_PROVIDER_OPTIONS__KLING__FIRST_POLL_AFTER": "0.2",
            "OPENKLING_PROVIDER_OPTIONS__KLING__MAX_POLL_INTERVAL": "0.5",
            "OPENKLING_PROVIDER_OPTIONS__KLING__LIST_INTERVAL": "0.3",
        })
        try:
            yield a, b, relay_account
        finally:
            a.stop(timeout=30)
    finally:
        b.stop(timeout=30)


@pytest.fixture
async def on_a(chain: tuple[ServerHandle, ServerHandle, Credentials]) -> AsyncIterator[
        tuple[httpx.AsyncClient, dict[str, str]]]:
    a = chain[0]
    key = a.create_key("client")
    async with httpx.AsyncClient(base_url=a.base_url, timeout=60) as http:
        yield http, key.headers


async def _upstream_tasks(chain: tuple[ServerHandle, ServerHandle, Credentials],
                          family: str) -> list[dict[str, Any]]:
    _, b, relay_account = chain
    async with httpx.AsyncClient(base_url=b.base_url, timeout=30) as http:
        answer = await http.get(f"/v1/{family}", params={"pageSize": 50},
                                headers=relay_account.headers)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["data"])


async def test_image2video_is_relayed_once_and_its_video_rehosted(
        chain: tuple[ServerHandle, ServerHandle, Credentials],
        on_a: tuple[httpx.AsyncClient, dict[str, str]], image_url: str,
        tmp_path: Path) -> None:
    http, headers = on_a
    path = "/kling/v1/videos/image2video"
    with CallbackReceiverDouble() as receiver:
        created = await http.post(path, headers=headers, json={
            "model_name": "kling-v2-6", "image": image_url, "prompt": "leaves", "duration": "3",
            "callback_url": receiver.url,
        })
        assert created.status_code == 200, created.text
        task_id = created.json()["data"]["task_id"]
        done = await wait_for_status(http, f"{path}/{task_id}", headers, {"succeed", "failed"},
                                     timeout=300)
        assert done["task_status"] == "succeed", done
        statuses = [r.json["task_status"]
                    for r in receiver.wait_for_task_status("succeed", timeout=60)]
    assert statuses[-1] == "succeed" and set(statuses) <= {"processing", "succeed"}
    [video] = done["task_result"]["videos"]  # type: ignore[index]
    assert video["url"].startswith(chain[0].base_url)  # re-hosted by A, not B's link
    file = tmp_path / "v.mp4"
    file.write_bytes((await http.get(video["url"])).content)
    info = probe(file)
    assert info["frames"] == 49 and info["size"][1] > info["size"][0]  # B used our image
    [upstream] = await _upstream_tasks(chain, "videos/image2video")
    assert upstream["task_info"]["external_task_id"] == task_id
    assert upstream["task_id"] != task_id
    assert upstream["task_status"] == "succeed"


async def test_images_are_relayed_once_and_rehosted_as_pngs(
        chain: tuple[ServerHandle, ServerHandle, Credentials],
        on_a: tuple[httpx.AsyncClient, dict[str, str]]) -> None:
    http, headers = on_a
    path = "/v1/images/generations"
    created = await http.post(path, headers=headers, json={
        "model_name": "kling-v1-5", "prompt": "a fox", "n": 2, "aspect_ratio": "16:9"})
    assert created.status_code == 200, created.text
    task_id = created.json()["data"]["task_id"]
    done = await wait_for_status(http, f"{path}/{task_id}", headers, {"succeed", "failed"},
                                 timeout=300)
    assert done["task_status"] == "succeed", done
    images = done["task_result"]["images"]  # type: ignore[index]
    assert [i["index"] for i in images] == [0, 1]
    for image in images:
        assert image["url"].startswith(chain[0].base_url)
        picture = Image.open(io.BytesIO((await http.get(image["url"])).content))
        assert picture.format == "PNG"
        assert picture.width / picture.height == pytest.approx(16 / 9, rel=0.05)
    [upstream] = await _upstream_tasks(chain, "images/generations")
    assert upstream["task_info"]["external_task_id"] == task_id


async def test_other_models_stay_local_and_unserved_families_are_refused(
        chain: tuple[ServerHandle, ServerHandle, Credentials],
        on_a: tuple[httpx.AsyncClient, dict[str, str]]) -> None:
    http, headers = on_a
    created = await http.post("/v1/videos/text2video", headers=headers,
                              json={"model_name": "kling-v1", "prompt": "a local cat"})
    assert created.status_code == 200, created.text
    task_id = created.json()["data"]["task_id"]
    done = await wait_for_status(http, f"/v1/videos/text2video/{task_id}", headers,
                                 {"succeed", "failed"}, timeout=60)
    assert done["task_status"] == "succeed", done
    assert await _upstream_tasks(chain, "videos/text2video") == []  # made by A's own provider

    refused = await http.post("/v1/videos/effects", headers=headers, json={
        "model_name": "kling-v2-6", "effect_scene": "hug", "input": {"duration": "5"}})
    assert refused.status_code == 400
    assert refused.json()["code"] == 1201
    assert refused.json()["message"] == (
        "videos/effects: not served by the provider 'kling' of this server; no channel of the "
        "relay serves it (the channels' `families`; docs/relay.md)")
