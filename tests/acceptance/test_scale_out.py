"""Scale-out: an API process without a worker plus two `openkling worker` processes sharing
one PostgreSQL database. Every task completes, exactly once, split across the workers."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    ServerFactory,
    create_postgres_database,
    drop_postgres_database,
    postgres_skip_reason,
)
from tests.support.workers import running_workers


def test_api_and_two_workers_on_postgresql(server_factory: ServerFactory, tmp_path: Path) -> None:
    reason = postgres_skip_reason()
    if reason:
        pytest.skip(reason)
    url = create_postgres_database()
    runs = tmp_path / "runs.log"
    try:
        server = server_factory({"OPENKLING_DATABASE_URL": url,
                                 "OPENKLING_EMBEDDED_WORKER": "false",
                                 "OPENKLING_DOUBLE_LOG": str(runs),
                                 "OPENKLING_MAX_UNFINISHED_TASKS": "100"})
        creds = server.create_key("scale")
        with running_workers(server, tmp_path) as workers:
            ids = [httpx.post(f"{server.base_url}/v1/videos/text2video", headers=creds.headers,
                              json={"prompt": f"clip {i} [sleep=0.3]"}).json()["data"]["task_id"]
                   for i in range(20)]
            deadline = time.monotonic() + 90
            while True:
                tasks = httpx.get(f"{server.base_url}/v1/videos/text2video?pageSize=100",
                                  headers=creds.headers).json()["data"]
                if all(t["task_status"] == "succeed" for t in tasks):
                    break
                assert time.monotonic() < deadline, Counter(t["task_status"] for t in tasks)
                time.sleep(0.3)
            lines = [line.split() for line in runs.read_text().splitlines()]
            completions = Counter(task_id for task_id, _, _ in lines)
            assert set(completions) == set(ids) and max(completions.values()) == 1
            assert {int(pid) for _, _, pid in lines} == {w.pid for w in workers}  # both
            for worker in workers:
                worker.terminate()
                assert worker.wait(30) in (0, -15)
    finally:
        drop_postgres_database(url)
