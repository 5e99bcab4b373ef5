"""An API process without a worker says when no worker is alive: `/readyz` names it (without
going unready, docs/operations.md says why) and `/metrics` exports the count and the age that
the shipped alert rules use."""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from openkling.api.app import create_app
from openkling.clock import now_ms
from openkling.config import Settings
from openkling.store.database import Database
from openkling.store.workers import record_heartbeat
from tests.conftest import PROVIDER_DOUBLE
from tests.unit.worker.harness import worker_harness


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(data_dir=tmp_path, provider=PROVIDER_DOUBLE, embedded_worker=False,
                        worker_stale_seconds=30)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as client:
            yield client


async def workers_check(api: httpx.AsyncClient) -> str:
    response = await api.get("/readyz")
    assert response.status_code == 200, response.text  # informs, never unready (see module)
    assert response.json()["status"] == "ok"
    return str(response.json()["checks"]["workers"])


async def gauges(api: httpx.AsyncClient) -> dict[str, float]:
    response = await api.get("/metrics")
    assert response.status_code == 200
    return {sample.name: sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
            if sample.name in ("openkling_workers_alive", "openkling_worker_heartbeat_age_seconds")}


async def test_no_worker_ever(api: httpx.AsyncClient) -> None:
    assert await workers_check(api) == ("none alive: no worker has ever heartbeated "
                                        "(worker_stale_seconds = 30); created tasks wait until "
                                        "a worker runs")
    found = await gauges(api)
    assert found["openkling_workers_alive"] == 0
    assert math.isinf(found["openkling_worker_heartbeat_age_seconds"])


async def test_every_worker_dead_for_90_s_then_one_starts(api: httpx.AsyncClient,
                                                          tmp_path: Path) -> None:
    # What a worker killed 90 s ago leaves: its last heartbeat.
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'openkling.db'}")
    try:
        await record_heartbeat(db, "host:1:dead", now=now_ms() - 90_000)
    finally:
        await db.dispose()
    said = await workers_check(api)
    seconds = re.fullmatch(r"none alive: the last worker heartbeat was (\d+) s ago "
                           r"\(worker_stale_seconds = 30\); created tasks wait until a worker "
                           r"runs", said)
    assert seconds is not None, said
    assert int(seconds.group(1)) >= 90
    found = await gauges(api)
    assert found["openkling_workers_alive"] == 0
    assert found["openkling_worker_heartbeat_age_seconds"] >= 90

    async with worker_harness(tmp_path):  # an idle worker: no task, yet alive
        deadline = time.monotonic() + 20
        while (said := await workers_check(api)) != "ok":
            assert time.monotonic() < deadline, said
            await asyncio.sleep(0.05)
        found = await gauges(api)
        assert found["openkling_workers_alive"] == 1
        assert found["openkling_worker_heartbeat_age_seconds"] < 30


async def test_an_api_with_its_own_worker_reports_that_worker_not_others(
        tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, provider=PROVIDER_DOUBLE))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as client:
            checks = (await client.get("/readyz")).json()["checks"]
    assert "workers" not in checks and "loops" in checks
