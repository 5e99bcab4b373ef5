"""The blocking client against a real openkling server on a loopback port."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from openkling.client import (
    AspectRatio,
    CameraControl,
    InvalidParameterError,
    KlingClient,
    Mode,
    NotFoundError,
    Task,
    TaskFailedError,
    TaskStatus,
    WaitTimeoutError,
)

from .conftest import client_kwargs


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_create_with_every_field(client: KlingClient) -> None:
    external = _unique("ext")
    task = client.text2video.create(
        "a cat surfing",
        model_name="kling-v1",
        negative_prompt="blurry",
        cfg_scale=0.7,
        mode=Mode.PRO,
        aspect_ratio=AspectRatio.PORTRAIT,
        duration=5,
        camera_control=CameraControl.model_validate(
            {"type": "simple", "config": {"zoom": 5}}),
        external_task_id=external,
    )
    assert task.task_id.isdigit()
    assert task.task_status is TaskStatus.SUBMITTED
    assert task.external_task_id == external
    assert task.created_at is not None and task.created_at > 10**12  # milliseconds


def test_get_by_task_id_and_by_external_id(client: KlingClient) -> None:
    external = _unique("ext")
    created = client.text2video.create("a dog", external_task_id=external)
    by_id = client.text2video.get(created.task_id)
    by_external = client.text2video.get(external_task_id=external)
    assert by_id.task_id == by_external.task_id == created.task_id
    assert by_external.external_task_id == external


def test_list_pages_and_iterate_all(live_server: Any) -> None:
    fresh = live_server.create_key(_unique("paging"))
    with KlingClient(**client_kwargs(live_server, fresh)) as client:
        created = [client.text2video.create(f"clip {n}").task_id for n in range(5)]
        newest_first = list(reversed(created))
        first = client.text2video.list(page_num=1, page_size=2)
        second = client.text2video.list(page_num=2, page_size=2)
        last = client.text2video.list(page_num=3, page_size=2)
        beyond = client.text2video.list(page_num=4, page_size=2)
        assert [t.task_id for t in first + second + last] == newest_first
        assert len(last) == 1 and beyond == []
        assert [t.task_id for t in client.text2video.iter_all(page_size=2)] == newest_first
        with pytest.raises(InvalidParameterError) as caught:
            client.text2video.list(page_num=1, page_size=501)
        assert caught.value.code == 1201


def test_wait_reports_progress_until_success(client: KlingClient) -> None:
    task = client.text2video.create("a slow sunrise [sleep=1]")
    seen: list[Task] = []
    done = client.text2video.wait(task, timeout=60, on_progress=seen.append)
    assert done.task_status is TaskStatus.SUCCEED
    assert done.progress == 100
    assert done.videos and done.videos[0].url
    percents = [t.progress for t in seen if t.progress is not None]
    assert percents == sorted(percents)
    order = [TaskStatus.SUBMITTED, TaskStatus.PROCESSING, TaskStatus.SUCCEED]
    ranks = [order.index(t.task_status) for t in seen]
    assert ranks == sorted(ranks)


def test_wait_raises_when_the_task_fails(client: KlingClient) -> None:
    task = client.text2video.create("doomed [fail]")
    with pytest.raises(TaskFailedError) as caught:
        client.text2video.wait(task.task_id, timeout=60)
    assert caught.value.task.task_id == task.task_id
    assert caught.value.task.task_status is TaskStatus.FAILED
    assert caught.value.message
    failed = client.text2video.wait(task, timeout=60, raise_on_failure=False)
    assert failed.task_status is TaskStatus.FAILED


def test_wait_times_out_then_cancel_ends_the_task(client: KlingClient) -> None:
    task = client.text2video.create("a long film [sleep=30]")
    with pytest.raises(WaitTimeoutError) as caught:
        client.text2video.wait(task, timeout=0.3)
    assert not caught.value.task.is_terminal
    client.text2video.cancel(task.task_id)
    ended = client.text2video.wait(task, timeout=60, raise_on_failure=False)
    assert ended.task_status is TaskStatus.FAILED


def _served_bytes(url: str) -> bytes:
    response = httpx.get(url, timeout=30)
    response.raise_for_status()
    return response.content


def test_generate_downloads_the_served_file(
    client: KlingClient, live_server: Any, tmp_path: Path
) -> None:
    progress: list[tuple[int, int | None]] = []
    result = client.text2video.generate(
        "a cat surfing", aspect_ratio="9:16", duration="5", path=tmp_path / "cat.mp4",
        timeout=60, on_download_progress=lambda done, total: progress.append((done, total)),
    )
    assert result.path == tmp_path / "cat.mp4"
    data = result.path.read_bytes()
    assert data[4:8] == b"ftyp"  # an MP4
    assert data == _served_bytes(result.task.videos[0].url)
    stored = [p for p in Path(live_server.data_dir).rglob("*") if p.is_file()
              and p.stat().st_size == len(data) and p.read_bytes() == data]
    assert stored, "the downloaded bytes match no file in the server's storage"
    assert progress[-1] == (len(data), len(data))
    assert not list(tmp_path.glob("*.part"))


def test_download_by_task_id_into_a_directory(client: KlingClient, tmp_path: Path) -> None:
    done = client.text2video.wait(client.text2video.create("a boat"), timeout=60)
    path = client.text2video.download(done.task_id, tmp_path)
    assert path == tmp_path / f"{done.task_id}.mp4"
    assert path.read_bytes() == _served_bytes(done.videos[0].url)
    video_only = client.text2video.download(done.videos[0], tmp_path / "v.mp4")
    assert video_only.read_bytes() == path.read_bytes()


def test_download_of_an_unfinished_task_says_so(client: KlingClient, tmp_path: Path) -> None:
    task = client.text2video.create("still going [sleep=30]")
    with pytest.raises(Exception, match="nothing to download"):
        client.text2video.download(task, tmp_path)
    client.text2video.cancel(task)


def test_gateway_prefix(live_server: Any, credentials: Any) -> None:
    with KlingClient(**client_kwargs(live_server, credentials, prefix="/kling")) as client:
        assert client.config.api_root.endswith("/kling")
        task = client.text2video.create("through the gateway path")
        assert client.text2video.get(task.task_id).task_id == task.task_id


def test_a_wrong_prefix_is_a_1202(live_server: Any, credentials: Any) -> None:
    with KlingClient(**client_kwargs(live_server, credentials, prefix="/nope")) as client, \
            pytest.raises(NotFoundError) as caught:
        client.text2video.list()
    assert caught.value.code == 1202


def test_unknown_task_is_not_found(client: KlingClient) -> None:
    with pytest.raises(NotFoundError) as caught:
        client.text2video.get("123456789012345678")
    assert caught.value.code == 1203 and caught.value.http_status == 404
    assert caught.value.request_id
    with pytest.raises(NotFoundError):
        client.text2video.get(external_task_id=_unique("never-made"))


def test_another_accounts_task_is_not_found(client: KlingClient, live_server: Any) -> None:
    task = client.text2video.create("mine")
    other = live_server.create_key(_unique("other"))
    with KlingClient(**client_kwargs(live_server, other)) as stranger, \
            pytest.raises(NotFoundError):
        stranger.text2video.get(task.task_id)
