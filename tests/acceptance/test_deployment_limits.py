"""Limits that hold for the whole deployment, not per process: 3 API processes and 3 workers
on one PostgreSQL database (and Redis for the rate limit where configured).

- the request rate of an account: the burst is admitted once across all API processes;
- the unfinished-task cap: concurrent creates spread over the processes stop at the cap;
- a relay channel's `max_concurrency`: 3 workers together never hold more upstream tasks
  than the limit (the simulator double counts what the upstream saw).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    ROOT,
    ServerFactory,
    create_postgres_database,
    drop_postgres_database,
    postgres_skip_reason,
)
from tests.doubles.kling_simulator import KlingSimulatorDouble, RunningSimulator
from tests.integration.providers.kling.conftest import AK, FAST, SK
from tests.store.test_rate_buckets import REDIS_URL, _redis_reason

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def pg_url() -> Iterator[str]:
    reason = postgres_skip_reason()
    if reason:
        pytest.skip(reason)
    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


@pytest.mark.parametrize("shared", ["postgresql", "redis"])
def test_rate_and_unfinished_cap_hold_across_three_api_processes(
        server_factory: ServerFactory, pg_url: str, shared: str) -> None:
    env = {"OPENKLING_DATABASE_URL": pg_url, "OPENKLING_EMBEDDED_WORKER": "false",
           "OPENKLING_RATE_LIMIT_PER_SECOND": "0.01", "OPENKLING_RATE_LIMIT_BURST": "40",
           "OPENKLING_MAX_UNFINISHED_TASKS": "5"}
    if shared == "redis":
        reason = asyncio.run(_redis_reason())
        if reason:
            pytest.skip(reason)
        env["OPENKLING_REDIS_URL"] = REDIS_URL
    servers = [server_factory(env, name=f"api{i}") for i in range(3)]
    polly, carl = servers[0].create_key("polly"), servers[0].create_key("carl")
    path = "/v1/videos/text2video"

    codes = Counter()
    for i in range(60):  # round robin over the processes, as a load balancer would
        response = httpx.get(f"{servers[i % 3].base_url}{path}", headers=polly.headers)
        codes[response.status_code] += 1
        if response.status_code == 429:
            assert response.json()["code"] == 1302 and int(response.headers["retry-after"]) >= 1
    # a burst of 40 and 0.01 tokens/s: per process it would have been 60 of 60
    assert codes == {200: 40, 429: 20}

    async def create_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            return list(await asyncio.gather(*(
                client.post(f"{servers[i % 3].base_url}{path}", headers=carl.headers,
                            json={"prompt": f"clip {i} [sleep=60]"})
                for i in range(24)
            )))

    answers = Counter((r.status_code, r.json()["code"]) for r in asyncio.run(create_all()))
    assert answers == {(200, 0): 5, (429, 1303): 19}  # the cap, exactly, across processes


def test_channel_concurrency_holds_across_three_workers(
        server_factory: ServerFactory, pg_url: str, tmp_path: Path) -> None:
    sim = KlingSimulatorDouble(access_keys={AK: SK}, concurrency_limit=100,
                               processing_after=0.1, finish_after=0.8)
    upstream = RunningSimulator(sim).start()
    config = tmp_path / "relay.toml"
    channel = {"name": "acct", "base_url": upstream.base_url, "access_key": AK,
               "secret_key": SK, "timeout": 5.0, "max_concurrency": 2}
    options = {**FAST, "rehost": False, "channels": [channel]}
    config.write_text("[provider_options.kling]\n" + "".join(
        f"{key} = {json.dumps(value)}\n" for key, value in options.items() if key != "channels"
    ) + "channels = [" + ", ".join(
        "{" + ", ".join(f"{k} = {json.dumps(v)}" for k, v in c.items()) + "}"
        for c in options["channels"]) + "]\n")
    workers: list[subprocess.Popen[bytes]] = []
    try:
        server = server_factory({"OPENKLING_DATABASE_URL": pg_url,
                                 "OPENKLING_EMBEDDED_WORKER": "false",
                                 "OPENKLING_CONFIG": str(config),
                                 "OPENKLING_MAX_UNFINISHED_TASKS": "100"}, provider="kling")
        creds = server.create_key("relay")
        for i in range(3):
            log = open(tmp_path / f"worker{i}.log", "wb")
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "openkling.cli.main", "worker"], env=server.env,
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
        ids = [httpx.post(f"{server.base_url}/v1/videos/text2video", headers=creds.headers,
                          json={"prompt": f"clip {i}"}).json()["data"]["task_id"]
               for i in range(12)]
        deadline = time.monotonic() + 120
        while True:
            tasks = httpx.get(f"{server.base_url}/v1/videos/text2video?pageSize=100",
                              headers=creds.headers).json()["data"]
            if all(t["task_status"] == "succeed" for t in tasks):
                break
            assert not any(t["task_status"] == "failed" for t in tasks), tasks
            assert time.monotonic() < deadline, Counter(t["task_status"] for t in tasks)
            time.sleep(0.3)
        assert {t["task_id"] for t in tasks} == set(ids)
        # every task went upstream exactly once, and never more than 2 at a time
        assert max(sim.submits.values()) == 1 and len(sim.submits) == 12
        assert sim.peak_unfinished == {f"ak:{AK}": 2}
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
        upstream.stop()
