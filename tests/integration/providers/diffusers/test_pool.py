"""ModelPool: every local model runs the same way, one model process per device. Here the
images family (tiny random SDXL) on two CPU "devices", next to the provider's own tiny Wan."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from openkling.config import Settings
from openkling.core.families import IMAGES
from openkling.core.models import GenerationSpec
from openkling.core.provider import ProviderError, TaskContext, TransientProviderError
from openkling.providers.diffusers import DiffusersProvider
from openkling.providers.diffusers.messages import ProcessState
from openkling.providers.diffusers.pool import ModelPool
from tests.support.diffusers import ContextRecorder, make_spec

pytestmark = pytest.mark.slow


@pytest.fixture
async def two_devices(tmp_path: Path) -> AsyncIterator[DiffusersProvider]:
    provider = DiffusersProvider({"model": "tiny-random-wan", "devices": "cpu,cpu",
                                  "cpu_threads": 1}, Settings(data_dir=tmp_path / "data"))
    yield provider
    await provider.close()


def images_spec(task_id: str, options: dict[str, Any] | None = None) -> GenerationSpec:
    request = {"model_name": "kling-v1", "prompt": "a fox", "n": 1, "aspect_ratio": "1:1",
               "resolution": "1k"}
    return make_spec(task_id, kind=IMAGES, request=request, options=options or {})


def on_progress(ctx: TaskContext, then: Any) -> TaskContext:
    """`ctx`, calling `then(percent)` after each progress report it records."""
    base = ctx._report

    async def report(percent: float | None) -> None:
        await base(percent)
        if percent is not None:
            await then(percent)

    ctx._report = report
    return ctx


async def test_a_family_runs_one_process_per_device_like_text2video(
        two_devices: DiffusersProvider, recorder: ContextRecorder) -> None:
    await two_devices.start()
    pool = two_devices.pool_for(images_spec("4000"))
    assert pool.model == "tiny-random-sdxl"  # the images model of a tiny text-to-video one
    assert [p.load_config["device"] for p in pool.processes] == ["cpu", "cpu"]
    assert set(pool.processes).isdisjoint(two_devices.model_processes)
    rendered_on: dict[str, set[int | None]] = {"4001": set(), "4002": set()}

    def noting(task_id: str) -> TaskContext:
        async def note(percent: float) -> None:
            rendered_on[task_id].update(p.pid for p in pool.processes if p.busy)
        return on_progress(recorder.context(task_id), note)

    results = await asyncio.gather(*(two_devices.run(images_spec(task_id), noting(task_id))
                                     for task_id in rendered_on))
    assert [len(r.images) for r in results] == [1, 1]
    pids = {p.pid for p in pool.processes}
    assert len(pids) == 2 and None not in pids
    # Each task took a process of its own: together they used both devices.
    assert set().union(*rendered_on.values()) == pids
    assert two_devices.pools == [two_devices.pools[0], pool]

    await two_devices.close()
    every = [p for each in two_devices.pools for p in each.processes]
    assert len(every) == 4
    assert all(p.pid is None and p.state is ProcessState.STOPPED for p in every)


async def test_a_crashed_family_process_is_started_again(
        two_devices: DiffusersProvider, recorder: ContextRecorder) -> None:
    pool = two_devices.pool_for(images_spec("4010"))
    killed: list[int] = []

    async def kill_own_process(percent: float) -> None:
        if not killed:
            [mine] = [p for p in pool.processes if p.busy]
            assert mine.pid is not None
            killed.append(mine.pid)
            os.kill(mine.pid, signal.SIGKILL)

    doomed = on_progress(recorder.context("4010"), kill_own_process)
    # 500 steps at the tiny size: still denoising when the first step's report kills it.
    with pytest.raises(TransientProviderError, match="exited unexpectedly"):
        await two_devices.run(images_spec("4010", {"images": {"steps": 500}}), doomed)
    # Started again at once, not on the next task: both devices have a live process.
    pids = {p.pid for p in pool.processes}
    assert None not in pids and killed[0] not in pids
    result = await two_devices.run(images_spec("4010"), recorder.context("4010", attempt=2))
    assert len(result.images) == 1


async def test_a_family_model_that_cannot_load_fails_its_tasks_with_the_load_error(
        two_devices: DiffusersProvider, recorder: ContextRecorder, tmp_path: Path) -> None:
    missing = {"images": {"model": str(tmp_path / "no-such-sdxl")}}
    for task_id in ("4020", "4021"):  # the second is refused by the failed pool, not retried
        with pytest.raises(ProviderError, match=r"could not load model.*no such model folder"):
            await two_devices.run(images_spec(task_id, missing), recorder.context(task_id))
    pool = two_devices.pool_for(images_spec("4020", missing))
    assert pool.status().state == "failed"
    assert "no such model folder" in str(pool.status().reason)
    # Readiness stays about the provider's own model (not started here), not this one.
    assert two_devices.model_processes == []
    assert two_devices.status().state == "loading"


def test_a_pool_not_started_is_loading_its_model(tmp_path: Path) -> None:
    pool = ModelPool({"model": "tiny-random-wan"}, ["cpu", "cpu"], tmp_path)
    assert [p.load_config["device"] for p in pool.processes] == ["cpu", "cpu"]
    assert pool.status().state == "loading"
    assert pool.status().reason == "the model process is loading tiny-random-wan"
