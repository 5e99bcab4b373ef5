"""S3-compatible storage against a local S3 server (moto's, a test double on loopback)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import botocore.session
import httpx
import pytest

from openkling.storage.s3 import S3Storage
from tests.conftest import ServerFactory, free_port, wait_for_status

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = botocore.session.get_session().create_client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket="videos")
    yield endpoint
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


async def test_put_exists_presigned_download_delete(s3_endpoint: str, tmp_path: Path) -> None:
    storage = S3Storage("videos", prefix="openkling", endpoint_url=s3_endpoint,
                        region="us-east-1", url_ttl_seconds=600)
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"\x00\x00\x00\x18ftypmp42 fake video")
    try:
        await storage.put_file("videos/1/clip.mp4", source)
        assert await storage.exists("videos/1/clip.mp4")
        url = storage.url_for("videos/1/clip.mp4")
        assert "/videos/openkling/videos/1/clip.mp4?" in url and "X-Amz-Signature=" in url
        assert httpx.get(url).content == source.read_bytes()
        await storage.delete("videos/1/clip.mp4")
        assert not await storage.exists("videos/1/clip.mp4")
    finally:
        await storage.close()


async def test_server_stores_videos_in_s3(s3_endpoint: str,
                                          server_factory: ServerFactory) -> None:
    server = server_factory({**CREDENTIALS, "OPENKLING_STORAGE": "s3",
                             "OPENKLING_S3_BUCKET": "videos",
                             "OPENKLING_S3_ENDPOINT_URL": s3_endpoint,
                             "OPENKLING_S3_REGION": "us-east-1"})
    creds = server.create_key("s3")
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        created = (await client.post("/v1/videos/text2video", headers=creds.headers,
                                     json={"prompt": "to s3"})).json()["data"]
        done = await wait_for_status(client, f"/v1/videos/text2video/{created['task_id']}",
                                     creds.headers, {"succeed", "failed"})
        assert done["task_status"] == "succeed", done
        url = done["task_result"]["videos"][0]["url"]  # type: ignore[index]
        assert url.startswith(s3_endpoint + "/videos/")
        video = await client.get(url)
        assert video.status_code == 200 and video.content[4:8] == b"ftyp"
