"""Several devices on one host: one model process per device, each fed its own task; a crash
on one device does not stop the others. Two "devices" here are two CPU model processes."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from openkling.config import Settings
from openkling.core.provider import TransientProviderError
from openkling.providers.diffusers import DiffusersProvider
from openkling.providers.diffusers.model_options import parse_options
from tests.support.diffusers import ContextRecorder, make_spec

pytestmark = pytest.mark.slow


@pytest.fixture
async def two_devices(tmp_path: Path) -> AsyncIterator[DiffusersProvider]:
    provider = DiffusersProvider({"model": "tiny-random-wan", "devices": "cpu,cpu",
                                  "cpu_threads": 1}, Settings(data_dir=tmp_path / "data"))
    yield provider
    await provider.close()


def test_device_lists_name_one_model_process_each() -> None:
    assert parse_options({"devices": "0,1,2,3"}).device_list == [
        "cuda:0", "cuda:1", "cuda:2", "cuda:3"]
    assert parse_options({"devices": ["cpu", "cpu"]}).device_list == ["cpu", "cpu"]
    assert parse_options({"device": "cuda:1"}).device_list == ["cuda:1"]
    with pytest.raises(ValueError, match="devices"):
        parse_options({"devices": "0,tpu"})
    with pytest.raises(ValueError, match="devices"):
        parse_options({"devices": ""})


async def test_two_devices_render_two_tasks_at_once_in_two_processes(
        two_devices: DiffusersProvider, recorder: ContextRecorder) -> None:
    assert two_devices.concurrency == 2
    await two_devices.start()
    processes = two_devices.model_processes
    await asyncio.gather(*(p.wait_ready() for p in processes))
    pids = {p.pid for p in processes}
    assert len(pids) == 2 and None not in pids
    busy: set[int | None] = set()
    base = recorder.context("3001")._report

    def watching(task_id: str) -> object:
        ctx = recorder.context(task_id)

        async def report(percent: float | None) -> None:
            await base(percent)
            busy.update(p.pid for p in processes if p.busy)
        ctx._report = report
        return ctx

    results = await asyncio.gather(*(
        two_devices.run(make_spec(task_id, duration=3, options={"std_steps": 4}),
                        watching(task_id))  # type: ignore[arg-type]
        for task_id in ("3001", "3002")))
    assert [len(r.videos) for r in results] == [1, 1]
    assert busy == pids  # both processes rendered, at the same time
    assert {p.pid for p in processes} == pids  # and stay warm


async def test_a_crash_on_one_device_leaves_the_other_rendering(
        two_devices: DiffusersProvider, recorder: ContextRecorder) -> None:
    await two_devices.start()
    processes = two_devices.model_processes
    await asyncio.gather(*(p.wait_ready() for p in processes))
    killed: list[int] = []
    doomed = recorder.context("3003")
    base = doomed._report

    async def kill_own_process(percent: float | None) -> None:
        await base(percent)
        if percent is not None and not killed:
            [mine] = [p for p in processes if p.busy and p.pid not in survivors]
            assert mine.pid is not None
            killed.append(mine.pid)
            os.kill(mine.pid, signal.SIGKILL)

    doomed._report = kill_own_process
    survivors: set[int | None] = set()
    healthy = two_devices.run(make_spec("3004", duration=3, options={"std_steps": 30}),
                              recorder.context("3004"))
    healthy_task = asyncio.create_task(healthy)
    # Let the healthy task take its process first; the doomed one gets the other.
    for _ in range(200):
        if any(p.busy for p in processes):
            break
        await asyncio.sleep(0.05)
    survivors.update(p.pid for p in processes if p.busy)
    with pytest.raises(TransientProviderError, match="exited unexpectedly"):
        await two_devices.run(make_spec("3003", duration=3, options={"std_steps": 500}), doomed)
    result = await healthy_task
    assert len(result.videos) == 1
    survivor = survivors.pop()
    assert survivor in {p.pid for p in processes}  # never restarted
    # The crashed device is back for the next task.
    again = await two_devices.run(make_spec("3005", duration=3), recorder.context("3005"))
    assert len(again.videos) == 1
    assert killed[0] not in {p.pid for p in processes}


def test_worker_devices_flag_runs_one_model_process_per_device(tmp_path: Path) -> None:
    """`openkling worker --devices cpu,cpu` next to an API-only server: two tasks, two
    model processes under the worker, both tasks rendered."""
    import subprocess
    import sys
    import time

    import httpx

    from tests.conftest import ROOT, ServerHandle, server_env
    from tests.integration.providers.diffusers.test_diffusers_server import model_pids

    env = server_env(tmp_path, "diffusers", {
        "OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__MODEL": "tiny-random-wan",
        "OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__CPU_THREADS": "1",
        "OPENKLING_EMBEDDED_WORKER": "false",
    })
    api = ServerHandle(data_dir=tmp_path, env=env).start()
    worker = subprocess.Popen(
        [sys.executable, "-m", "openkling.cli.main", "worker", "--devices", "cpu,cpu"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        key = api.create_key()
        headers = {"Authorization": f"Bearer {key.api_key}"}
        with httpx.Client(base_url=api.base_url, headers=headers, timeout=30) as client:
            ids = [client.post("/v1/videos/text2video", json={"prompt": f"fox {i}"})
                   .json()["data"]["task_id"] for i in range(2)]
            deadline = time.monotonic() + 240
            statuses: list[str] = []
            while time.monotonic() < deadline:
                statuses = [client.get(f"/v1/videos/text2video/{i}").json()["data"]
                            ["task_status"] for i in ids]
                if all(s in ("succeed", "failed") for s in statuses):
                    break
                time.sleep(0.5)
            assert statuses == ["succeed", "succeed"]
        handle = ServerHandle(data_dir=tmp_path, env=env, process=worker)  # type: ignore[arg-type]
        assert len(model_pids(handle)) == 2
    finally:
        worker.terminate()
        worker.wait(60)
        api.stop(timeout=30)
