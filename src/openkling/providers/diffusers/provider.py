"""DiffusersProvider: Kling text2video served by an open model (Wan 2.1 by default) on this host.

Construction is cheap and imports neither torch nor diffusers: the API process builds the
provider only to call `check` at create time. The worker calls `start`, which spawns the
model process; `run` maps the request, hands it to that process and stores the MP4.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from openkling.config import Settings
from openkling.core.errors import Code, KlingError
from openkling.core.models import GenerationSpec
from openkling.core.provider import (
    GenerationResult,
    ProviderError,
    TaskContext,
    TransientProviderError,
    VideoOutput,
)
from openkling.providers.diffusers.mapping import PipelineCall, pipeline_call
from openkling.providers.diffusers.model_process import ModelProcess
from openkling.providers.diffusers.options import LOAD_FIELDS, DiffusersOptions, parse_options
from openkling.providers.diffusers.preflight import preflight

log = logging.getLogger("openkling.providers.diffusers")

#: Share of the progress bar the denoising steps fill; decoding and encoding take the rest.
DENOISE_SHARE = 95.0
_VIDEO_IDS = uuid.UUID("6f1d3c2a-4b5e-4f60-9a7b-8c9d0e1f2a3b")


def video_id_for(task_id: str) -> str:
    """Deterministic per task: a retried task overwrites the same key instead of adding one."""
    return str(uuid.uuid5(_VIDEO_IDS, task_id))


class DiffusersProvider:
    """Runs a diffusers text-to-video pipeline in a warm model process (one per worker)."""

    name = "diffusers"
    #: One GPU renders one video at a time; a second worker process means a second device.
    concurrency = 1

    def __init__(self, options: dict[str, Any], settings: Settings) -> None:
        self.options: DiffusersOptions = parse_options(options)
        self.settings = settings
        self._process: ModelProcess | None = None

    def preflight(self) -> str | None:
        """Why this host cannot run the configured model (with the fix), or None."""
        return preflight(self.options)

    @property
    def model_process(self) -> ModelProcess | None:
        return self._process

    def _options_for(self, spec: GenerationSpec) -> DiffusersOptions:
        try:
            options = self.options.merged(spec.options)
        except ValueError as exc:
            raise ProviderError(str(exc)) from None
        changed = [f for f in LOAD_FIELDS if getattr(options, f) != getattr(self.options, f)]
        if changed:
            raise ProviderError(
                f"this worker's model process was loaded with other {', '.join(changed)}; "
                "configure a separate provider (worker) per local model"
            )
        return options

    def check(self, spec: GenerationSpec) -> None:
        """Reject at create time what a local model cannot honour (400/1201), no I/O."""
        if spec.kind != "text2video":
            raise KlingError.invalid(
                "model_name", f"{spec.kind} is not supported by the local diffusers provider"
            )
        if spec.camera_control:
            raise KlingError.invalid(
                "camera_control", "camera control is not supported by the local diffusers "
                "provider (it cannot steer the camera of an open text-to-video model)"
            )
        try:
            options = self._options_for(spec)
        except ProviderError as exc:
            raise KlingError(Code.INTERNAL, f"diffusers provider misconfigured: {exc}") from None
        pipeline_call(spec, options)

    def plan(self, spec: GenerationSpec) -> PipelineCall:
        """The pipeline call a spec maps to (what `run` will ask the model process for)."""
        return pipeline_call(spec, self._options_for(spec))

    async def start(self) -> None:
        """Spawn the model process; the pipeline loads in the background meanwhile."""
        if self._process is None:
            self._process = ModelProcess(
                self.options.load_config(),
                self.settings.data_dir,
                cancel_grace_seconds=self.options.cancel_grace_seconds,
            )
        await self._process.start()

    async def close(self) -> None:
        if self._process is not None:
            await self._process.close()

    async def run(self, spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        ctx.raise_if_cancelled()
        call = self.plan(spec)
        await self.start()
        assert self._process is not None
        await ctx.set_processing()

        video_id = video_id_for(spec.task_id)
        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        out_path = ctx.work_dir / f"{video_id}.mp4"
        reported = -1

        async def on_progress(step: int, total: int) -> None:
            nonlocal reported
            percent = int(DENOISE_SHARE * step / max(1, total))
            if percent > reported:
                reported = percent
                await ctx.report_progress(percent)

        try:
            result = await self._process.generate(call.to_dict(), out_path, on_progress,
                                                  ctx.cancelled)
        except TransientProviderError:
            if self._process.pid is None:
                # Crashed: respawn now, so the model is loading (or warm) for the next task.
                await self._process.start()
            raise
        ctx.raise_if_cancelled()
        key = f"videos/{spec.task_id}/{video_id}.mp4"
        await ctx.storage.put_file(key, out_path)
        duration = int(result["frames"]) / int(result["fps"])
        log.info("task %s: %sx%s, %s frames (%.2f s) stored at %s", spec.task_id,
                 result["width"], result["height"], result["frames"], duration, key)
        return GenerationResult([VideoOutput(id=video_id, duration=duration, storage_key=key)])
