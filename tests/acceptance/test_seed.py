"""The original request, exactly as the seed shows it: a /kling gateway, Bearer API key,
`Content-Type: application/json` on the GET, polled until the video is ready."""

from __future__ import annotations

import time

import httpx

from tests.conftest import Credentials, ServerHandle


def test_seed_request_end_to_end(live_server: ServerHandle, credentials: Credentials) -> None:
    headers = {"Content-Type": "application/json",
               "Authorization": f"Bearer {credentials.api_key}"}
    created = httpx.post(f"{live_server.base_url}/kling/v1/videos/text2video", headers=headers,
                         json={"model_name": "kling-v1", "prompt": "a red fox in snow",
                               "aspect_ratio": "16:9", "duration": "5"}).json()
    assert created["code"] == 0
    task_id = created["data"]["task_id"]
    deadline = time.monotonic() + 30
    while True:
        response = httpx.get(f"{live_server.base_url}/kling/v1/videos/text2video/{task_id}",
                             headers=headers)
        body = response.json()
        assert response.status_code == 200 and body["code"] == 0
        if body["data"]["task_status"] == "succeed":
            break
        assert body["data"]["task_status"] in ("submitted", "processing")
        assert time.monotonic() < deadline
        time.sleep(0.2)
    video = body["data"]["task_result"]["videos"][0]
    download = httpx.get(video["url"])
    assert download.status_code == 200 and download.content[4:8] == b"ftyp"
