"""Metrics of several processes on one host, added up (`PROMETHEUS_MULTIPROC_DIR`): an API
process without a worker and two `openkling worker`s on one PostgreSQL database; the API's
`/metrics` counts the tasks both workers rendered, and forgets a stopped worker's live
gauges (its counters stay: they are totals)."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    PROVIDER_DOUBLE,
    ServerFactory,
    create_postgres_database,
    drop_postgres_database,
    postgres_skip_reason,
)
from tests.integration.api.test_metrics import samples
from tests.support.workers import running_workers


def value(text: str, name: str, **labels: str) -> float:
    return sum(v for found, v in samples(text).get(name, [])
               if all(found.get(k) == want for k, want in labels.items()))


def test_the_api_counts_what_every_worker_did(server_factory: ServerFactory,
                                              tmp_path: Path) -> None:
    reason = postgres_skip_reason()
    if reason:
        pytest.skip(reason)
    url = create_postgres_database()
    shared = tmp_path / "prometheus"
    shared.mkdir()  # empty before any process starts
    runs = tmp_path / "runs.log"
    try:
        server = server_factory({"OPENKLING_DATABASE_URL": url,
                                 "OPENKLING_EMBEDDED_WORKER": "false",
                                 "OPENKLING_DOUBLE_LOG": str(runs),
                                 "PROMETHEUS_MULTIPROC_DIR": str(shared)})
        creds = server.create_key("multiprocess")
        with running_workers(server, tmp_path) as workers:
            ids = [httpx.post(f"{server.base_url}/v1/videos/text2video", headers=creds.headers,
                              json={"prompt": f"clip {i} [sleep=0.3]"}).json()["data"]["task_id"]
                   for i in range(12)]
            deadline = time.monotonic() + 90
            while not runs.exists() or len(runs.read_text().splitlines()) < len(ids):
                assert time.monotonic() < deadline
                time.sleep(0.3)
            by_worker = Counter(int(line.split()[2]) for line in runs.read_text().splitlines())
            assert set(by_worker) == {w.pid for w in workers}  # both rendered some

            text = httpx.get(f"{server.base_url}/metrics").text
            # Rendered in the workers, counted on the API: both workers' completions.
            assert value(text, "openkling_task_attempts_count", status="succeed") == len(ids)
            assert value(text, "openkling_render_duration_seconds_count",
                         outcome="succeed") == len(ids)
            # The API's own requests are there too.
            assert value(text, "openkling_http_requests_total",
                         route="/v1/videos/text2video", method="POST", status="200") == len(ids)
            assert value(text, "openkling_provider_state", provider=PROVIDER_DOUBLE,
                         state="ready") == 1

            for worker in workers:
                worker.terminate()
                assert worker.wait(30) in (0, -15)
        text = httpx.get(f"{server.base_url}/metrics").text
        assert value(text, "openkling_task_attempts_count", status="succeed") == len(ids)
        assert value(text, "openkling_provider_state", provider=PROVIDER_DOUBLE,
                     state="ready") == 0  # no worker is left to say so
    finally:
        drop_postgres_database(url)
