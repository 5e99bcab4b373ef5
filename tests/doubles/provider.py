"""ProviderDouble: a test double for the provider protocol, steered by markers in the prompt.

- "[fail]"         -> ends failed (ProviderError)
- "[transient]"    -> the first attempt raises TransientProviderError, later ones succeed
- "[sleep=S]"      -> takes S seconds, reporting progress, honouring cancellation
- "[reject]"       -> `check` refuses the request at create time (400/1201)
- otherwise        -> succeeds at once with a real tiny H.264 MP4 (tests/data/tiny.mp4), or
                      for images/generations `n` small PNGs

It serves text2video, image2video and images/generations and honours every optional field
of them (what a relay does); other families are not declared, so creates are refused.

If OPENKLING_DOUBLE_LOAD_GATE names a file, the double is `loading` (like a model process
loading weights) until that file exists: `status()` says so and runs wait for it.

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

from PIL import Image

from openkling.config import Settings
from openkling.core.errors import KlingError
from openkling.core.families import FAMILIES, IMAGE2VIDEO, IMAGES, TEXT2VIDEO
from openkling.core.models import GenerationSpec
from openkling.core.provider import (
    GenerationResult,
    ImageOutput,
    ProviderError,
    ProviderStatus,
    TaskCancelled,
    TaskContext,
    TransientProviderError,
    VideoOutput,
)

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "tiny.mp4"
SAMPLE_DURATION = 17 / 16


class ProviderDouble:
    name = "double"
    families = {path: frozenset(FAMILIES[path].optional_fields)
                for path in (TEXT2VIDEO, IMAGE2VIDEO, IMAGES)}

    def __init__(self, options: dict[str, Any], settings: Settings) -> None:
        self.concurrency = int(options.get("concurrency", 4))
        self.log_path = os.environ.get("OPENKLING_DOUBLE_LOG")
        gate = os.environ.get("OPENKLING_DOUBLE_LOAD_GATE")
        self.load_gate = Path(gate) if gate else None

    def status(self) -> ProviderStatus:
        if self.load_gate is not None and not self.load_gate.exists():
            return ProviderStatus("loading", f"the provider double waits for {self.load_gate}")
        return ProviderStatus("ready")

    def check(self, spec: GenerationSpec) -> None:
        if "[reject]" in spec.prompt:
            raise KlingError.invalid("prompt", "the provider double rejects '[reject]'")

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def run(self, spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        while self.status().state == "loading":  # a task waits for the model, as a real one
            ctx.raise_if_cancelled()
            await asyncio.sleep(0.05)
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
        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        if spec.kind == IMAGES:
            return await self._images(spec, ctx)
        video_id = f"{spec.task_id}-0"
        local = ctx.work_dir / "video.mp4"
        shutil.copyfile(SAMPLE, local)
        key = f"videos/{spec.task_id}/{video_id}.mp4"
        await ctx.storage.put_file(key, local)
        self._log(ctx.task_id, "succeed")
        return GenerationResult([VideoOutput(id=video_id, duration=SAMPLE_DURATION,
                                             storage_key=key)])

    async def _images(self, spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        outputs = []
        for index in range(int(spec.request.get("n", 1))):
            local = ctx.work_dir / f"{index}.png"
            Image.new("RGB", (64, 36), (index * 40, 90, 200)).save(local, format="PNG")
            key = f"images/{spec.task_id}/{index}.png"
            await ctx.storage.put_file(key, local, "image/png")
            outputs.append(ImageOutput(index=index, storage_key=key))
        self._log(ctx.task_id, "succeed")
        return GenerationResult([], images=outputs)

    def _log(self, task_id: str, outcome: str) -> None:
        if self.log_path:
            with open(self.log_path, "a") as fh:
                fh.write(f"{task_id} {outcome} {os.getpid()}\n")
