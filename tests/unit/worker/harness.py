"""An in-process worker on SQLite in a temporary folder, running the provider double.

No server process, no sockets: the worker is assembled exactly as `openkling worker` does
it (`openkling.assembly`), with settings that make its loops turn in fractions of a second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from openkling.assembly import ApiParts, Resources, build_api, build_worker
from openkling.config import Settings
from openkling.core.auth import Principal
from openkling.core.families import FAMILIES, TEXT2VIDEO
from openkling.core.models import Text2VideoRequest
from openkling.store.records import TaskRecord
from openkling.worker.engine import Worker
from tests.conftest import PROVIDER_DOUBLE

FAST: dict[str, Any] = {
    "poll_interval": 0.05,
    "lease_seconds": 2.0,
    "heartbeat_seconds": 1.0,
    "retry_base_seconds": 0.0,
    "shutdown_grace_seconds": 0.0,
}


@dataclass
class Harness:
    resources: Resources
    api: ApiParts
    worker: Worker
    principal: Principal

    async def create(self, prompt: str, **fields: Any) -> TaskRecord:
        request = Text2VideoRequest(prompt=prompt, **fields)
        return await self.api.tasks.create(self.principal, request)

    async def create_in(self, family: str, body: dict[str, Any]) -> TaskRecord:
        """A create of any family, as its route would make it."""
        request = FAMILIES[family].request.model_validate(body)
        return await self.api.tasks.create(self.principal, request, FAMILIES[family])

    async def get(self, task_id: str, kind: str = TEXT2VIDEO) -> TaskRecord:
        return await self.api.tasks.get(self.principal, task_id, kind)

    async def wait_until(
        self, task_id: str, done: Callable[[TaskRecord], bool], timeout: float = 20.0,
        kind: str = TEXT2VIDEO,
    ) -> TaskRecord:
        deadline = time.monotonic() + timeout
        while True:
            task = await self.get(task_id, kind)
            if done(task):
                return task
            if time.monotonic() > deadline:
                raise AssertionError(f"task {task_id} never got there: {task}")
            await asyncio.sleep(0.05)

    async def wait_finished(self, task_id: str, timeout: float = 20.0,
                            kind: str = TEXT2VIDEO) -> TaskRecord:
        return await self.wait_until(task_id, lambda t: t.status.finished, timeout, kind)


@asynccontextmanager
async def worker_harness(
    data_dir: Path, *, start: bool = True, **overrides: Any
) -> AsyncIterator[Harness]:
    settings = Settings(**{"data_dir": data_dir, "provider": PROVIDER_DOUBLE,
                           "embedded_worker": False, **FAST, **overrides})
    resources = Resources.open(settings)
    http = httpx.AsyncClient()  # fetches input image URLs, as the API process's client does
    try:
        await resources.migrate()
        account, _ = await resources.accounts.get_or_create(
            "harness", now=1, callback_secret_enc=resources.master.encrypt("s"))
        providers = resources.build_providers()
        harness = Harness(
            resources=resources,
            api=build_api(resources, providers, http),
            worker=build_worker(resources, providers),
            principal=Principal(account_id=account.id, account_name="harness", credential_id=0),
        )
        harness.api.tasks.on_created = harness.worker.wake
        if start:
            await harness.worker.start()
        try:
            yield harness
        finally:
            if start:
                await harness.worker.stop(grace=0)
    finally:
        await http.aclose()
        await resources.close()
