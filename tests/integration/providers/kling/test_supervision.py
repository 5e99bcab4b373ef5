"""The relay's background loops run under the process's supervisor (core/loops.py): a database
outage seen by the upstream-event loop is logged once and survived; a loop that dies fails
readiness and asks the process to exit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from openkling.api.app import create_app
from openkling.config import Settings
from openkling.core.loops import Loops
from openkling.providers.kling import KlingProvider
from openkling.store import migrate
from openkling.store.database import Database
from openkling.store.relay_events import RelayEventReader
from tests.doubles.event_source import DyingEventSourceDouble
from tests.doubles.kling_simulator import RunningSimulator
from tests.integration.providers.kling.conftest import FAST, key_channel
from tests.support.pgcluster import PgCluster


async def _until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


@pytest.fixture
async def events_db(cluster: PgCluster) -> AsyncIterator[Database]:
    db = Database(cluster.url)
    await migrate.upgrade(db)
    yield db
    await db.dispose()


@pytest.mark.slow
async def test_the_event_loop_survives_a_database_outage_and_logs_it_once(
        cluster: PgCluster, events_db: Database, simulator: RunningSimulator, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(data_dir=tmp_path, public_url="http://relay.test")
    provider = KlingProvider({"channels": [key_channel(simulator)], **FAST}, settings)
    provider.attach_events(RelayEventReader(events_db))
    deaths: list[tuple[str, str]] = []
    loops = Loops(on_death=lambda name, why: deaths.append((name, why)),
                  backoff_base=0.05, backoff_cap=0.2)
    provider.attach_loops(loops)
    await provider.start()

    def health() -> str:
        return loops.health()["relay-events"]

    try:
        with caplog.at_level(logging.INFO):
            await _until(lambda: health() == "ok")
            await asyncio.to_thread(cluster.stop_immediately)
            await _until(lambda: health().startswith("failing: "))
            await asyncio.sleep(1.0)  # several failed turns while the database is down
            await asyncio.to_thread(cluster.start)
            await asyncio.to_thread(cluster.wait_ready)
            await _until(lambda: health() == "ok")
        assert deaths == [] and loops.all_alive
        mine = [r for r in caplog.records if r.name == "openkling.loop.relay-events"]
        assert len([r for r in mine if r.exc_info]) == 1  # one traceback for the outage
        assert any("recovered after" in r.getMessage() for r in mine)
        assert set(loops.health()) >= {"relay-scheduler", "relay-poller-0", "relay-list-gw",
                                       "relay-events"}
    finally:
        await loops.stop()
        await provider.close()


async def test_a_dying_relay_loop_fails_readiness_and_stops_the_process(
        simulator: RunningSimulator, tmp_path: Path) -> None:
    fatal: list[str] = []
    settings = Settings(data_dir=tmp_path, provider="kling", public_url="http://relay.test",
                        provider_options={"kling": {"channels": [key_channel(simulator)],
                                                    **FAST}})
    app = create_app(settings, on_fatal=fatal.append)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        ready = (await http.get("/readyz")).json()
        loops: dict[str, Any] = ready["checks"]["loops"]
        assert {"relay-scheduler", "relay-list-gw", "relay-events", "claim"} <= set(loops)
        assert ready["status"] == "ok", ready
        worker = app.state.services.worker
        worker.providers["kling"].tracker.events = DyingEventSourceDouble()
        await _until(lambda: fatal != [])
        answer = await http.get("/readyz")
        assert answer.status_code == 503
        dead = answer.json()["checks"]["loops"]["relay-events"]
        assert dead.startswith("dead: LoopKiller")
    assert fatal[0].startswith("background loop relay-events ended")
