"""ScriptedProvider: a test double whose `run` is a coroutine the test sets.

The prompt-steered ProviderDouble covers the ordinary outcomes; the engine tests also need a
provider that crashes, fills the disk, returns nothing, ignores cancellation or returns images
and videos together. A test sets `script` on the instance the worker serves; every run is
recorded in `runs` as (task id, attempt) before the script starts.

Options (`provider_options`): `concurrency` (default 4), `fail_start` (a message: `start`
raises RuntimeError with it, as a provider whose model cannot load would).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from openkling.config import Settings
from openkling.core.families import FAMILIES, IMAGES, TEXT2VIDEO
from openkling.core.models import GenerationSpec
from openkling.core.provider import GenerationResult, TaskContext

Script = Callable[[GenerationSpec, TaskContext], Awaitable[GenerationResult]]


class ScriptedProvider:
    name = "scripted"
    families = {path: frozenset(FAMILIES[path].optional_fields) for path in (TEXT2VIDEO, IMAGES)}

    def __init__(self, options: dict[str, Any], settings: Settings) -> None:
        self.concurrency = int(options.get("concurrency", 4))
        self.fail_start = options.get("fail_start")
        self.script: Script | None = None
        self.runs: list[tuple[str, int]] = []
        self.closed = False

    def check(self, spec: GenerationSpec) -> None:
        return None

    async def start(self) -> None:
        if self.fail_start:
            raise RuntimeError(str(self.fail_start))

    async def close(self) -> None:
        self.closed = True

    async def run(self, spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        self.runs.append((ctx.task_id, ctx.attempt))
        if self.script is None:
            raise AssertionError("the test set no script for the ScriptedProvider double")
        return await self.script(spec, ctx)
