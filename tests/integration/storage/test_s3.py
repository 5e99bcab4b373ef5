"""S3-compatible storage against a local S3 server (moto's, a test double on loopback)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import botocore.session
import httpx
import pytest

from openkling.storage.health import storage_problem
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
        await storage.put_bytes("inputs/1/image.png", b"\x89PNG input", "image/png")
        assert await storage.read_bytes("inputs/1/image.png") == b"\x89PNG input"
    finally:
        await storage.close()


async def test_presigned_urls_name_the_public_endpoint_uploads_use_the_other(
        s3_endpoint: str, tmp_path: Path) -> None:
    """Compose: openkling uploads to http://s3:9000 while the host downloads from the port the
    host publishes; here both addresses reach the same server (127.0.0.1 and localhost)."""
    public = s3_endpoint.replace("127.0.0.1", "localhost")
    storage = S3Storage("videos", endpoint_url=s3_endpoint, public_endpoint_url=public,
                        region="us-east-1", url_ttl_seconds=600)
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"\x00\x00\x00\x18ftypmp42 public")
    try:
        await storage.put_file("videos/2/clip.mp4", source)
        url = storage.url_for("videos/2/clip.mp4")
        assert url.startswith(public + "/videos/videos/2/clip.mp4?"), url
        assert httpx.get(url).content == source.read_bytes()
        unset = S3Storage("videos", endpoint_url=s3_endpoint, region="us-east-1")
        assert unset.url_for("videos/2/clip.mp4").startswith(s3_endpoint + "/videos/")
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


def objects_in(endpoint: str, bucket: str) -> list[str]:
    client = botocore.session.get_session().create_client("s3", endpoint_url=endpoint)
    return [item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", [])]


#: How long the probes that must get an answer may wait: the production default (3 s) is a
#: readiness deadline, and on a loaded machine the first call (a new botocore client against
#: moto) can take longer; these tests check what the probe does, not how fast.
ANSWER = 60.0


async def test_readiness_probe_puts_and_deletes_an_object(s3_endpoint: str) -> None:
    storage = S3Storage("videos", prefix="probed", endpoint_url=s3_endpoint,
                        region="us-east-1")
    try:
        assert await storage_problem(storage, cache_seconds=0, probe_seconds=ANSWER) is None
        assert not [key for key in objects_in(s3_endpoint, "videos")
                    if key.startswith("probed/")]  # the probe cleans up
        missing = S3Storage("no-such-bucket", endpoint_url=s3_endpoint, region="us-east-1")
        problem = await storage_problem(missing, cache_seconds=0, probe_seconds=ANSWER)
        assert problem is not None and problem.startswith(
            f"not writable: S3 bucket no-such-bucket at {s3_endpoint} (NoSuchBucket"), problem
        await missing.close()
    finally:
        await storage.close()


async def test_readiness_probe_answer_is_reused_briefly(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.server import ThreadedMotoServer

    for name, value in CREDENTIALS.items():  # this test has its own server, to stop it
        monkeypatch.setenv(name, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    botocore.session.get_session().create_client(
        "s3", endpoint_url=endpoint).create_bucket(Bucket="brief")
    storage = S3Storage("brief", endpoint_url=endpoint, region="us-east-1")
    try:
        assert await storage_problem(storage, cache_seconds=60, probe_seconds=ANSWER) is None
        server.stop()
        # Within the cache time the answer stands; past it the probe goes out again.
        assert await storage_problem(storage, cache_seconds=60) is None
        problem = await storage_problem(storage, cache_seconds=0, probe_seconds=10)
        assert problem is not None and problem.startswith(f"unreachable: S3 bucket brief at "
                                                          f"{endpoint}"), problem
    finally:
        await storage.close()


async def test_an_unreachable_endpoint_is_reported_within_the_timeout() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    storage = S3Storage("videos", endpoint_url=endpoint, region="us-east-1")
    try:
        problem = await storage_problem(storage, cache_seconds=0, probe_seconds=1)
        assert problem is not None and problem.startswith(
            f"unreachable: S3 bucket videos at {endpoint}"), problem
    finally:
        await storage.close()


def test_readiness_is_503_naming_storage_while_s3_is_unreachable(
    server_factory: ServerFactory,
) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    server = server_factory({**CREDENTIALS, "OPENKLING_STORAGE": "s3",
                             "OPENKLING_S3_BUCKET": "videos",
                             "OPENKLING_S3_ENDPOINT_URL": endpoint,
                             "OPENKLING_S3_REGION": "us-east-1"}, ready=False)
    ready = httpx.get(f"{server.base_url}/readyz", timeout=30)
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["storage"].startswith(f"unreachable: S3 bucket videos at {endpoint}"), checks
    assert checks["database"] == "ok"
