"""Adding a Kling family is adding one declaration (docs/architecture.md, "a family"): with
one `_relay_only(...)` entry in FAMILIES, and nothing else, a new route is served on both
mount points, takes its own model name and its media-sized body, is relayed to the family's
upstream path, polled on the fast path and re-hosted."""

from __future__ import annotations

import base64
import importlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from openkling.api import routes_tasks
from openkling.api.app import create_app
from openkling.config import Settings
from openkling.core import families
from tests.conftest import wait_for_status
from tests.doubles.kling_simulator import (
    FAMILY_PATHS,
    MODELS,
    KlingSimulatorDouble,
    RunningSimulator,
)
from tests.integration.api.test_fastpath import make_key

NEW = "videos/motion-transfer"  # a family Kling might ship tomorrow
KEY = "sk-simulated"


@pytest.fixture
def declared(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The one declaration, then the routes rebuilt from the table as at start-up."""
    monkeypatch.setitem(families.FAMILIES, NEW, families._relay_only(
        NEW, media=1, models=("kling-motion-v1",)))
    importlib.reload(routes_tasks)
    yield
    monkeypatch.undo()
    importlib.reload(routes_tasks)


@pytest.fixture
def upstream() -> Iterator[RunningSimulator]:
    sim = KlingSimulatorDouble(api_keys=(KEY,), processing_after=0.05, finish_after=0.2,
                               families=(*FAMILY_PATHS, NEW),
                               models=(*MODELS, "kling-motion-v1"))
    running = RunningSimulator(sim).start()
    yield running
    running.stop()


@pytest.fixture
async def client(declared: None, upstream: RunningSimulator, tmp_path: Path) -> AsyncIterator[
        tuple[httpx.AsyncClient, dict[str, str]]]:
    key = make_key(tmp_path, "new-family")
    settings = Settings(data_dir=tmp_path, provider="kling", provider_options={"kling": {
        "base_url": upstream.base_url, "api_key": KEY, "first_poll_after": 0.05,
        "max_poll_interval": 0.2, "list_interval": 0.1}})
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as http:
            yield http, {"Authorization": f"Bearer {key['api_key']}"}


async def test_one_declaration_serves_a_new_family_end_to_end(
        client: tuple[httpx.AsyncClient, dict[str, str]], upstream: RunningSimulator) -> None:
    http, headers = client
    image = base64.b64encode(b"\x89PNG" + bytes(1_000_000)).decode()  # > the 256 KB text limit
    body: dict[str, Any] = {"model_name": "kling-motion-v1", "image": image,
                            "motion": {"preset": "wave"}}
    created = await http.post(f"/kling/v1/{NEW}", headers=headers, json=body)
    assert created.status_code == 200, created.text
    task_id = created.json()["data"]["task_id"]
    done = await wait_for_status(http, f"/v1/{NEW}/{task_id}", headers, {"succeed", "failed"})
    assert done["task_status"] == "succeed", done
    assert upstream.sim.create_paths == [NEW]
    assert upstream.sim.create_bodies == [{**body, "external_task_id": task_id}]
    [video] = done["task_result"]["videos"]  # type: ignore[index]
    file = await http.get(video["url"])
    assert file.status_code == 200 and file.content == upstream.sim.video
    # A task belongs to its family; the family's list route exists too.
    assert (await http.get(f"/v1/videos/text2video/{task_id}", headers=headers)).status_code \
        == 404
    listed = await http.get(f"/v1/{NEW}", headers=headers)
    assert [t["task_id"] for t in listed.json()["data"]] == [task_id]
