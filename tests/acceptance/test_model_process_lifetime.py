"""A model process dies with its worker: kill -9 of `openkling worker` mid-render must not
leave the diffusers model process rendering (on a GPU it would hold the memory a restarted
worker needs)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import TINY_WAN_ENV, ServerFactory
from tests.support.diffusers import model_children
from tests.support.workers import running_workers

pytestmark = pytest.mark.slow

#: Frames this large make one denoising step of the tiny model take seconds on a CPU, much
#: longer than a model process that watches its parent takes to exit. (Without a watchdog it
#: notices only at the end of the step, when its progress message cannot be sent.)
LARGE_FRAMES = {"OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__WIDTH": "448",
                "OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__HEIGHT": "256"}


def exited(pid: int) -> bool:
    """Gone, or a zombie waiting for whoever adopted it to reap it (it runs nothing)."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def test_kill_9_of_the_worker_stops_its_model_process(server_factory: ServerFactory,
                                                      tmp_path: Path) -> None:
    server = server_factory({
        **TINY_WAN_ENV,
        "OPENKLING_EMBEDDED_WORKER": "false",
        **LARGE_FRAMES,
        "OPENKLING_MAX_ATTEMPTS": "1",
    }, provider="diffusers")
    creds = server.create_key("pdeath")
    with running_workers(server, tmp_path, count=1) as [worker]:
        response = httpx.post(f"{server.base_url}/kling/v1/videos/text2video",
                              headers=creds.headers, timeout=30,
                              json={"model_name": "kling-v1", "prompt": "a long render",
                                    "mode": "pro", "duration": "10"})
        assert response.status_code == 200, response.text
        task_id = response.json()["data"]["task_id"]
        deadline = time.monotonic() + 120
        while True:  # rendering: some steps done, far from the last
            task = httpx.get(f"{server.base_url}/kling/v1/videos/text2video/{task_id}",
                             headers=creds.headers, timeout=30).json()["data"]
            if task["task_status"] == "processing" and int(task["progress"]) >= 1:
                break
            assert task["task_status"] in ("submitted", "processing"), task
            assert worker.poll() is None, (tmp_path / "worker0.log").read_text()
            assert time.monotonic() < deadline, task
            time.sleep(0.1)
        [model] = model_children(worker.pid)
        worker.send_signal(signal.SIGKILL)
        worker.wait()

        deadline = time.monotonic() + 5  # far below the rest of the step
        while not exited(model):
            assert time.monotonic() < deadline, "the model process outlived its worker"
            time.sleep(0.1)
