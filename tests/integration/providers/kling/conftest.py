"""Fixtures for the kling relay: a running simulator double, providers and task contexts."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from openkling.config import Settings
from openkling.core.ids import new_task_id
from openkling.core.models import GenerationSpec
from openkling.core.provider import TaskContext
from openkling.providers.kling import KlingProvider
from tests.doubles.kling_simulator import KlingSimulatorDouble, RunningSimulator, make_mp4

AK, SK = "AK-test-access", "SK-test-secret-do-not-log-0123456789abcdef"
STATIC_KEY = "sk-static-do-not-log"

FAST = {
    "first_poll_after": 0.05,
    "max_poll_interval": 0.2,
    "list_interval": 0.1,
    "event_interval": 0.05,
    "retry_base": 0.01,
    "retry_max": 0.05,
    "busy_retry_after": 0.05,
}

#: The channels' request timeout in these tests: long enough that a loaded machine (the suite
#: runs in four processes) does not time out a healthy simulator, shorter than its "slow" fault.
UPSTREAM_TIMEOUT = 3.0


@pytest.fixture(scope="session")
def mp4_bytes() -> bytes:
    return make_mp4()


@pytest.fixture
def simulator(mp4_bytes: bytes) -> Iterator[RunningSimulator]:
    sim = KlingSimulatorDouble(access_keys={AK: SK}, api_keys=(STATIC_KEY,),
                               concurrency_limit=5, processing_after=0.1, finish_after=0.3,
                               video=mp4_bytes, slow_seconds=UPSTREAM_TIMEOUT * 1.5)
    running = RunningSimulator(sim).start()
    yield running
    running.stop()


@pytest.fixture
def second_simulator(mp4_bytes: bytes) -> Iterator[RunningSimulator]:
    sim = KlingSimulatorDouble(api_keys=(STATIC_KEY,), concurrency_limit=5,
                               processing_after=0.1, finish_after=0.3, video=mp4_bytes)
    running = RunningSimulator(sim).start()
    yield running
    running.stop()


def jwt_channel(sim: RunningSimulator, name: str = "ak", **extra: Any) -> dict[str, Any]:
    return {"name": name, "base_url": sim.base_url, "access_key": AK, "secret_key": SK,
            "timeout": UPSTREAM_TIMEOUT, **extra}


def key_channel(sim: RunningSimulator, name: str = "gw", **extra: Any) -> dict[str, Any]:
    return {"name": name, "base_url": sim.base_url, "path_prefix": "/kling",
            "api_key": STATIC_KEY, "timeout": UPSTREAM_TIMEOUT, **extra}


@pytest.fixture
async def make_provider(tmp_path: Path) -> AsyncIterator[Any]:
    built: list[KlingProvider] = []

    async def build(channels: list[dict[str, Any]], **options: Any) -> KlingProvider:
        settings = Settings(data_dir=tmp_path / "data")
        provider = KlingProvider({"channels": channels, **FAST, **options}, settings)
        await provider.start()
        built.append(provider)
        return provider

    yield build
    for provider in built:
        await provider.close()


class DirStorageDouble:
    """Storage double: a plain folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def put_file(self, key: str, source: Path, content_type: str = "video/mp4") -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(source, target)

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    async def read_bytes(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    async def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)

    async def exists(self, key: str) -> bool:
        return (self.root / key).is_file()

    def url_for(self, key: str) -> str:
        return f"http://files.invalid/{key}"

    async def close(self) -> None:
        return None


@dataclass
class TaskRecord:
    """What the engine would keep for one task: durable provider state and status reports."""

    task_id: str
    storage: DirStorageDouble
    work_dir: Path
    state: dict[str, Any] = field(default_factory=dict)
    reports: list[float | None] = field(default_factory=list)
    attempt: int = 0

    def context(self) -> TaskContext:
        self.attempt += 1

        async def save(state: dict[str, Any]) -> None:
            self.state = dict(state)

        async def report(progress: float | None) -> None:
            self.reports.append(progress)

        return TaskContext(task_id=self.task_id, attempt=self.attempt, state=self.state,
                           storage=self.storage, work_dir=self.work_dir, save_state=save,
                           report=report)


@pytest.fixture
def new_task(tmp_path: Path) -> Any:
    def make() -> TaskRecord:
        task_id = new_task_id()
        return TaskRecord(task_id, DirStorageDouble(tmp_path / "storage"),
                          tmp_path / "work" / task_id)

    return make


def spec_for(task: TaskRecord, prompt: str = "a cat on a skateboard",
             model: str = "kling-v1") -> GenerationSpec:
    return GenerationSpec(task_id=task.task_id, model_name=model, prompt=prompt,
                          negative_prompt=None, cfg_scale=0.5, mode="std", aspect_ratio="16:9",
                          duration=5)


async def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)
