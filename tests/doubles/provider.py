"""ProviderDouble: a test double for the provider protocol, steered by markers in the prompt.

- "[fail]"         -> ends failed (ProviderError)
- "[transient]"    -> the first attempt raises TransientProviderError, later ones succeed
- "[sleep=S]"      -> takes S seconds, reporting progress, honouring cancellation
- "[reject]"       -> `check` refuses the request at create time (400/1201)
- otherwise        -> succeeds at once with a real tiny H.264 MP4 (tests/data/tiny.mp4)

If OPENKLING_DOUBLE_LOG names a file, every finished run appends "<task_id> <outcome> <pid>\n",
so tests can prove a task ran to completion exactly once, and which process ran it.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path
from typing import Any

from openkling.config import Settings
from openkling.core.errors import KlingError
from openkling.core.models import GenerationSpec
from openkling.core.provider import (
    GenerationResult,
    ProviderError,
    TaskCancelled,
    TaskContext,
    TransientProviderError,
    VideoOutput,
)

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "tiny.mp4"
SAMPLE_DURATION = 17 / 16


class ProviderDouble:
    name = "double"

    def __init__(self, options: dict[str, Any], settings: Settings) -> None:
        self.concurrency = int(options.get("concurrency", 4))
        self.log_path = os.environ.get("OPENKLING_DOUBLE_LOG")

    def check(self, spec: GenerationSpec) -> None:
        if "[reject]" in spec.prompt:
            raise KlingError.invalid("prompt", "the provider double rejects '[reject]'")

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def run(self, spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        await ctx.set_processing()
        if "[fail]" in spec.prompt:
            self._log(ctx.task_id, "failed")
            raise ProviderError("the provider double was asked to fail")
        if "[transient]" in spec.prompt and ctx.attempt == 1:
            raise TransientProviderError("the provider double fails its first attempt",
                                         retry_after=0.2)
        match = re.search(r"\[sleep=([0-9.]+)\]", spec.prompt)
        seconds = float(match.group(1)) if match else 0.0
        steps = max(1, int(seconds * 10))
        for step in range(steps):
            if ctx.cancelled.is_set():
                self._log(ctx.task_id, "cancelled")
                raise TaskCancelled("cancelled")
            await ctx.report_progress(100 * step / steps)
            await asyncio.sleep(seconds / steps)
        video_id = f"{spec.task_id}-0"
        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        local = ctx.work_dir / "video.mp4"
        shutil.copyfile(SAMPLE, local)
        key = f"videos/{spec.task_id}/{video_id}.mp4"
        await ctx.storage.put_file(key, local)
        self._log(ctx.task_id, "succeed")
        return GenerationResult([VideoOutput(id=video_id, duration=SAMPLE_DURATION,
                                             storage_key=key)])

    def _log(self, task_id: str, outcome: str) -> None:
        if self.log_path:
            with open(self.log_path, "a") as fh:
                fh.write(f"{task_id} {outcome} {os.getpid()}\n")
