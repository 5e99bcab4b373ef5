"""The asyncio client against a real openkling server: the same behaviour as the sync one."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from openkling.client import (
    AsyncKlingClient,
    AuthenticationError,
    NotFoundError,
    ServerError,
    Task,
    TaskFailedError,
    TaskStatus,
    WaitTimeoutError,
)

from .conftest import client_kwargs
from .doubles import Fault, FaultInjectingProxyDouble


async def test_create_get_list_and_iterate(live_server: Any) -> None:
    fresh = live_server.create_key(f"async-{uuid.uuid4().hex[:8]}")
    async with AsyncKlingClient(**client_kwargs(live_server, fresh)) as client:
        external = f"ext-{uuid.uuid4().hex}"
        first = await client.text2video.create("one", external_task_id=external,
                                               aspect_ratio="1:1")
        second = await client.text2video.create("two", mode="std")
        assert (await client.text2video.get(first.task_id)).task_id == first.task_id
        by_external = await client.text2video.get(external_task_id=external)
        assert by_external.task_id == first.task_id
        page = await client.text2video.list(1, 1)
        assert [t.task_id for t in page] == [second.task_id]
        every = [t.task_id async for t in client.text2video.iter_all(page_size=1)]
        assert every == [second.task_id, first.task_id]


async def test_concurrent_generate_downloads_each_file(
    aclient: AsyncKlingClient, tmp_path: Path
) -> None:
    results = await asyncio.gather(*(
        aclient.text2video.generate(f"clip {n}", path=tmp_path / f"{n}.mp4", timeout=60)
        for n in range(3)
    ))
    assert len({r.task.task_id for r in results}) == 3
    async with httpx.AsyncClient() as http:
        for result in results:
            served = (await http.get(result.task.videos[0].url)).content
            assert result.path.read_bytes() == served
            assert served[4:8] == b"ftyp"


async def test_wait_progress_failure_and_timeout(aclient: AsyncKlingClient) -> None:
    seen: list[Task] = []
    slow = await aclient.text2video.create("slow [sleep=1]")
    done = await aclient.text2video.wait(slow, timeout=60, on_progress=seen.append)
    assert done.task_status is TaskStatus.SUCCEED and done.progress == 100
    assert seen[-1].task_status is TaskStatus.SUCCEED

    doomed = await aclient.text2video.create("doomed [fail]")
    with pytest.raises(TaskFailedError) as caught:
        await aclient.text2video.wait(doomed, timeout=60)
    assert caught.value.task.task_status is TaskStatus.FAILED

    long = await aclient.text2video.create("long [sleep=30]")
    with pytest.raises(WaitTimeoutError):
        await aclient.text2video.wait(long, timeout=0.2)
    cancelled = await aclient.text2video.cancel(long.task_id)
    assert cancelled.task_id == long.task_id
    ended = await aclient.text2video.wait(long, timeout=60, raise_on_failure=False)
    assert ended.task_status is TaskStatus.FAILED


async def test_errors_are_typed(live_server: Any, aclient: AsyncKlingClient) -> None:
    with pytest.raises(NotFoundError):
        await aclient.text2video.get("999999999999999999")
    async with AsyncKlingClient(base_url=live_server.base_url, api_key="bogus") as bad:
        with pytest.raises(AuthenticationError):
            await bad.text2video.list()


async def test_retries_through_injected_faults(
    proxy: FaultInjectingProxyDouble, credentials: Any
) -> None:
    proxy.inject(Fault(status=429, code=1302, times=1, retry_after="0"))
    proxy.inject(Fault(status=503, code=5001, times=1))
    async with AsyncKlingClient(**client_kwargs(proxy, credentials)) as client:
        task = await client.text2video.create("retry me", external_task_id="retry-me")
        assert task.task_status is TaskStatus.SUBMITTED
    assert [s.injected for s in proxy.seen] == [True, True, False]

    proxy.inject(Fault(status=502, code=None, times=5, body=b"bad gateway"))
    async with AsyncKlingClient(**client_kwargs(proxy, credentials, max_retries=1)) as client:
        with pytest.raises(ServerError) as caught:
            await client.text2video.list()
    assert caught.value.http_status == 502 and caught.value.code is None
