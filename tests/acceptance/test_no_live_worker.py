"""An API run as `--no-worker` says when every worker is dead: real processes, kill -9.

Before: `/readyz` had no word on workers and `/metrics` nothing but the queue's age."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ServerFactory, ServerHandle
from tests.support.workers import running_workers


def workers_said(server: ServerHandle) -> str:
    response = httpx.get(f"{server.base_url}/readyz", timeout=10)
    assert response.status_code == 200, response.text
    return str(response.json()["checks"]["workers"])


def gauge(server: ServerHandle, name: str) -> float:
    text = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    [value] = [sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples if sample.name == name]
    return float(value)


def wait_for(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_killing_every_worker_shows_in_readyz_and_metrics(server_factory: ServerFactory,
                                                          tmp_path: Path) -> None:
    server = server_factory({"OPENKLING_EMBEDDED_WORKER": "false",
                             "OPENKLING_LEASE_SECONDS": "3",
                             "OPENKLING_HEARTBEAT_SECONDS": "1",
                             "OPENKLING_WORKER_STALE_SECONDS": "3"})
    assert workers_said(server).startswith("none alive: no worker has ever heartbeated")
    with running_workers(server, tmp_path, count=1) as [worker]:
        wait_for(lambda: workers_said(server) == "ok")
        assert gauge(server, "openkling_workers_alive") == 1
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        wait_for(lambda: workers_said(server).startswith("none alive: the last worker "
                                                         "heartbeat was"))
    assert gauge(server, "openkling_workers_alive") == 0
    assert gauge(server, "openkling_worker_heartbeat_age_seconds") > 3
