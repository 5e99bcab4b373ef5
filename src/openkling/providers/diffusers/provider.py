"""DiffusersProvider: Kling families served by open models on this host: text2video (Wan 2.1
by default), image2video (Wan 2.2 TI2V 5B), images/generations (SDXL) and audio/text-to-audio
(Stable Audio Open 1.0), images/editing/expand (Qwen-Image inpainting) and
videos/multi-image2video (Wan VACE, the images as reference images) and
images/multi-image2image (Qwen-Image-Edit Plus), one model
process per family, started when the family is first
asked for.

Construction is cheap and imports neither torch nor diffusers: the API process builds the
provider only to call `check` at create time. The worker calls `start`, which spawns the
model process; `run` maps the request, hands it to that process and stores the MP4.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openkling.config import Settings
from openkling.core.errors import Code, KlingError
from openkling.core.families import (
    EXPAND,
    IMAGE2VIDEO,
    IMAGES,
    MULTI_IMAGE2IMAGE,
    MULTI_IMAGE2VIDEO,
    TEXT2VIDEO,
    TEXT_TO_AUDIO,
    VIDEO_EXTEND,
)
from openkling.core.models import GenerationSpec
from openkling.core.provider import (
    AudioOutput,
    GenerationResult,
    ImageOutput,
    ProviderError,
    ProviderStatus,
    TaskContext,
    TransientProviderError,
    VideoOutput,
)
from openkling.providers.diffusers.catalogue import listing, makes_audio
from openkling.providers.diffusers.extend import extend_call, extend_options, source_video
from openkling.providers.diffusers.families import (
    AudioOptions,
    ExpandOptions,
    Image2VideoOptions,
    ImageOptions,
    MultiImageOptions,
    audio_options,
    expand_call,
    expand_options,
    image2video_call,
    image2video_options,
    image_options,
    images_call,
    multi_image2image_call,
    multi_image2image_options,
    multi_image2video_call,
    multi_image_options,
    reference_inputs,
    subject_inputs,
    text_to_audio_call,
)
from openkling.providers.diffusers.mapping import PipelineCall, pipeline_call, seed_for
from openkling.providers.diffusers.messages import ProcessState
from openkling.providers.diffusers.model_options import DiffusersOptions, parse_options
from openkling.providers.diffusers.model_process import ModelProcess
from openkling.providers.diffusers.preflight import preflight

WHO = "the local diffusers provider"

log = logging.getLogger("openkling.providers.diffusers")

#: Share of the progress bar the denoising steps fill; decoding and encoding take the rest.
DENOISE_SHARE = 95.0
#: The families beyond text2video whose result is one MP4.
_VIDEO_FAMILIES = (IMAGE2VIDEO, MULTI_IMAGE2VIDEO, VIDEO_EXTEND)
_VIDEO_IDS = uuid.UUID("6f1d3c2a-4b5e-4f60-9a7b-8c9d0e1f2a3b")


def video_id_for(task_id: str) -> str:
    """Deterministic per task: a retried task overwrites the same key instead of adding one."""
    return str(uuid.uuid5(_VIDEO_IDS, task_id))


def _sound(spec: GenerationSpec, model: str) -> bool:
    """Whether the request asks for sound; refused (400/1201) where `model` makes none (a
    route may name a model without sound while the provider's own has it)."""
    wanted = spec.request.get("sound") == "on"
    if wanted and not makes_audio(model):
        raise KlingError.invalid("sound", f"the local model {model} makes no sound; send "
                                 "sound \"off\" or use a model that makes audio (LTX-2)")
    return wanted


async def _fetch_source(spec: GenerationSpec, ctx: TaskContext) -> None:
    """video-extend's source video (another task's stored result) into the work folder; a
    source removed since the create (its task's retention) fails the task, not retried."""
    key = str(source_video(spec.request)["key"])
    if not await ctx.storage.exists(key):
        raise ProviderError(f"video {spec.request.get('video_id')!r} is no longer stored "
                            "(its task's files were removed)")
    (ctx.work_dir / "video_id.mp4").write_bytes(await ctx.storage.read_bytes(key))


class DiffusersProvider:
    """Runs a diffusers text-to-video pipeline in warm model processes, one per device.

    A device renders one video at a time, so the worker may run as many tasks at once as
    there are devices; each task takes an idle model process and gives it back when done.
    A crash ends only the task on that device: its process is started again, the others
    keep rendering.
    """

    name = "diffusers"

    def __init__(self, options: dict[str, Any], settings: Settings) -> None:
        self.options: DiffusersOptions = parse_options(options)
        self.settings = settings
        self.i2v: Image2VideoOptions = image2video_options(
            self.options.image2video, self.options.is_tiny, self.options.model)
        self.images: ImageOptions = image_options(self.options.images, self.options.is_tiny)
        self.audio: AudioOptions = audio_options(self.options.audio, self.options.is_tiny)
        self.expand: ExpandOptions = expand_options(self.options.expand, self.options.is_tiny)
        self.vace: MultiImageOptions = multi_image_options(self.options.multi_image2video,
                                                           self.options.is_tiny)
        #: The other families' model processes, started on their first task.
        self._family_processes: dict[tuple[str, str], ModelProcess] = {}
        self._process_locks: dict[tuple[str, str], asyncio.Lock] = {}
        #: Per family, the optional fields these models honour (see core/families.py).
        self.families: dict[str, frozenset[str]] = {
            # `sound` where the family's model makes a soundtrack (see catalogue.py).
            TEXT2VIDEO: frozenset({"sound"} if makes_audio(self.options.model) else set()),
            IMAGE2VIDEO: frozenset({"image_tail"} if self.i2v.image_tail else set())
            | ({"sound"} if makes_audio(self.i2v.model) else set()),
            IMAGES: frozenset({"image"}),
            # Kling's text-to-audio has no optional fields: prompt and duration are checked
            # by `check` (families.text_to_audio_call).
            TEXT_TO_AUDIO: frozenset(),
            # Likewise outpainting: its fields are checked by `check` (families.expand_call).
            EXPAND: frozenset(),
            # And multi-image2video: families.multi_image2video_call checks its fields.
            MULTI_IMAGE2VIDEO: frozenset(),
            # Likewise video extension (extend.extend_call).
            VIDEO_EXTEND: frozenset(),
            MULTI_IMAGE2IMAGE: frozenset(),  # families.multi_image2image_call checks
        }
        self.devices = self.options.device_list
        self.concurrency = len(self.devices)
        self._processes: list[ModelProcess] = []
        self._idle: asyncio.Queue[ModelProcess] | None = None

    @property
    def model_processes(self) -> list[ModelProcess]:
        """One per device, in the order of `devices` (empty before `start`)."""
        return list(self._processes)

    def describe_models(self, routes: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """The catalogue, with the Kling model names `routes` send to each model."""
        return listing(self.options.model_dump(exclude_unset=True), routes)

    def preflight(self) -> str | None:
        """Why this host cannot run the configured model (with the fix), or None."""
        return preflight(self.options)

    def status(self) -> ProviderStatus:
        """Where the model processes `start` spawned are: one whose model cannot load makes
        the provider `failed` (a misconfiguration to fix, not retried); one that is ready is
        enough to take work; until then `loading`."""
        processes = self._processes
        failed = [p.load_error for p in processes if p.state is ProcessState.FAILED]
        if failed:
            return ProviderStatus("failed", failed[0])
        if any(p.state is ProcessState.READY for p in processes):
            return ProviderStatus("ready")
        why = next((p.load_error for p in processes if p.load_error), None)
        return ProviderStatus("loading",
                              why or f"the model process is loading {self.options.model}")

    @property
    def model_process(self) -> ModelProcess | None:
        return self._processes[0] if self._processes else None

    def _options_for(self, spec: GenerationSpec) -> DiffusersOptions:
        """The provider options with the route's overrides: a route may name another `model`
        (or other load options) for its Kling model name, which then runs in a model process
        of its own (see `_process_for`)."""
        try:
            return self.options.merged(spec.options)
        except ValueError as exc:
            raise ProviderError(str(exc)) from None

    def check(self, spec: GenerationSpec) -> None:
        """Reject at create time what a local model cannot honour (400/1201), no I/O."""
        if spec.kind == IMAGE2VIDEO:
            if "image" not in spec.inputs:
                raise KlingError.invalid("image", f"is required by {WHO} (it makes a video "
                                         "from a first frame)")
            self._image2video_call(spec, "check")
            return
        if spec.kind == IMAGES:
            self._images_call(spec, "check")
            return
        if spec.kind == TEXT_TO_AUDIO:
            self._audio_call(spec)
            return
        if spec.kind == EXPAND:
            self._expand_call(spec, "check")
            return
        if spec.kind == MULTI_IMAGE2VIDEO:
            self._multi_image_call(spec, "check")
            return
        if spec.kind == VIDEO_EXTEND:
            self._extend_call(spec, "check")
            return
        if spec.kind == MULTI_IMAGE2IMAGE:
            self._multi_image2image_call(spec, "check")
            return
        if spec.kind != TEXT2VIDEO:
            raise KlingError.invalid("model_name", f"{spec.kind} is not supported by {WHO}")
        if spec.camera_control:
            raise KlingError.invalid(
                "camera_control", "camera control is not supported by the local diffusers "
                "provider (it cannot steer the camera of an open text-to-video model)"
            )
        try:
            options = self._options_for(spec)
        except ProviderError as exc:
            raise KlingError(Code.INTERNAL, f"diffusers provider misconfigured: {exc}") from None
        _sound(spec, options.model)
        pipeline_call(spec, options)

    def plan(self, spec: GenerationSpec) -> PipelineCall:
        """The pipeline call a spec maps to (what `run` will ask the model process for)."""
        return pipeline_call(spec, self._options_for(spec))

    async def start(self) -> None:
        """Spawn one model process per device; the pipelines load in the background."""
        if not self._processes:
            self._processes = [
                ModelProcess(self.options.load_config_for(device), self.settings.data_dir,
                             cancel_grace_seconds=self.options.cancel_grace_seconds)
                for device in self.devices
            ]
            self._idle = asyncio.Queue()
            for process in self._processes:
                self._idle.put_nowait(process)
        for process in self._processes:
            await process.start()

    async def close(self) -> None:
        for process in self._processes:
            await process.close()
        for process in self._family_processes.values():
            await process.close()

    def _family_options(self, spec: GenerationSpec) -> tuple[DiffusersOptions, Any]:
        """The route's provider options and its family's (image2video, images or audio)
        options."""
        options = self._options_for(spec)
        if spec.kind == IMAGE2VIDEO:
            return options, image2video_options(options.image2video, options.is_tiny,
                                                options.model)
        if spec.kind == TEXT_TO_AUDIO:
            return options, audio_options(options.audio, options.is_tiny)
        if spec.kind == EXPAND:
            return options, expand_options(options.expand, options.is_tiny)
        if spec.kind == MULTI_IMAGE2VIDEO:
            return options, multi_image_options(options.multi_image2video, options.is_tiny)
        if spec.kind == VIDEO_EXTEND:
            return options, extend_options(options.extend, options.is_tiny)
        if spec.kind == MULTI_IMAGE2IMAGE:
            return options, multi_image2image_options(options.multi_image2image,
                                                      options.is_tiny)
        return options, image_options(options.images, options.is_tiny)

    def _seed(self, spec: GenerationSpec) -> int:
        """The operator's fixed seed, else one derived from the task (a retry renders the same)."""
        return self.options.seed if self.options.seed is not None else seed_for(spec.task_id)

    def _image2video_call(self, spec: GenerationSpec, work: str) -> dict[str, Any]:
        inputs = spec.inputs
        try:
            i2v = self._family_options(spec)[1]
        except (ProviderError, ValueError) as exc:
            raise KlingError(Code.INTERNAL, f"diffusers provider misconfigured: {exc}") from None
        first = inputs["image"]
        return image2video_call(
            prompt=spec.prompt, negative_prompt=spec.negative_prompt or "",
            cfg_scale=spec.cfg_scale, mode=spec.mode, duration=spec.duration,
            image_size=(int(first["width"]), int(first["height"])),
            image_path=f"{work}/image.{first['key'].rsplit('.', 1)[-1]}",
            last_image_path=(f"{work}/image_tail.{inputs['image_tail']['key'].rsplit('.', 1)[-1]}"
                             if "image_tail" in inputs else None),
            seed=self._seed(spec),
            options=i2v, sound=_sound(spec, i2v.model),
        ).to_dict()

    def _images_call(self, spec: GenerationSpec, work: str) -> dict[str, Any]:
        request, inputs = spec.request, spec.inputs
        try:
            images = self._family_options(spec)[1]
        except (ProviderError, ValueError) as exc:
            raise KlingError(Code.INTERNAL, f"diffusers provider misconfigured: {exc}") from None
        return images_call(
            prompt=spec.prompt, negative_prompt=spec.negative_prompt,
            aspect_ratio=str(request.get("aspect_ratio", "16:9")),
            resolution=str(request.get("resolution", "1k")), n=int(request.get("n", 1)),
            image_path=(f"{work}/image.{inputs['image']['key'].rsplit('.', 1)[-1]}"
                        if "image" in inputs else None),
            image_fidelity=float(request.get("image_fidelity", 0.5)),
            seed=self._seed(spec),
            options=images,
        ).to_dict()

    def _audio_call(self, spec: GenerationSpec) -> dict[str, Any]:
        try:
            audio = self._family_options(spec)[1]
        except (ProviderError, ValueError) as exc:
            raise KlingError(Code.INTERNAL, f"diffusers provider misconfigured: {exc}") from None
        return text_to_audio_call(
            spec.request,
            seed=self._seed(spec),
            options=audio,
        ).to_dict()

    def _expand_call(self, spec: GenerationSpec, work: str) -> dict[str, Any]:
        image = spec.inputs.get("image")
        if image is None:
            raise KlingError.invalid("image", f"is required by {WHO} (the image to expand)")
        try:
            expand = self._family_options(spec)[1]
        except (ProviderError, ValueError) as exc:
            raise KlingError(Code.INTERNAL, f"diffusers provider misconfigured: {exc}") from None
        return expand_call(
            spec.request, image_size=(int(image["width"]), int(image["height"])),
            image_path=f"{work}/image.{image['key'].rsplit('.', 1)[-1]}",
            seed=self._seed(spec),
            options=expand,
        ).to_dict()

    def _multi_image_call(self, spec: GenerationSpec, work: str) -> dict[str, Any]:
        """multi-image2video: the stored request and its reference images, in order."""
        try:
            vace = self._family_options(spec)[1]
        except (ProviderError, ValueError) as exc:
            raise KlingError(Code.INTERNAL, f"diffusers provider misconfigured: {exc}") from None
        return multi_image2video_call(
            spec.request,
            reference_paths=[f"{work}/{name}.{meta['key'].rsplit('.', 1)[-1]}"
                             for name, meta in reference_inputs(spec.inputs)],
            seed=self._seed(spec),
            options=vace,
        ).to_dict()
    def _extend_call(self, spec: GenerationSpec, work: str) -> dict[str, Any]:
        """videos/video-extend: the stored video `video_id` names (its copy in `work`)."""
        try:
            extend = self._family_options(spec)[1]
        except (ProviderError, ValueError) as exc:
            raise KlingError(Code.INTERNAL, f"diffusers provider misconfigured: {exc}") from None
        return extend_call(spec.request, video_path=f"{work}/video_id.mp4",
                           seed=self._seed(spec), options=extend).to_dict()

    def _multi_image2image_call(self, spec: GenerationSpec, work: str) -> dict[str, Any]:
        """multi-image2image: the stored request, its subject images in order, its scene and
        style images."""
        try:
            edit = self._family_options(spec)[1]
        except (ProviderError, ValueError) as exc:
            raise KlingError(Code.INTERNAL, f"diffusers provider misconfigured: {exc}") from None

        def path(name: str, meta: dict[str, Any]) -> str:
            return f"{work}/{name}.{meta['key'].rsplit('.', 1)[-1]}"

        return multi_image2image_call(
            spec.request,
            subject_paths=[path(name, meta) for name, meta in subject_inputs(spec.inputs)],
            scene_path=(path("scene_image", spec.inputs["scene_image"])
                        if "scene_image" in spec.inputs else None),
            style_path=(path("style_image", spec.inputs["style_image"])
                        if "style_image" in spec.inputs else None),
            seed=self._seed(spec),
            options=edit,
        ).to_dict()

    def _family_process(self, spec: GenerationSpec) -> ModelProcess:
        options, family = self._family_options(spec)
        return self._process_for(spec.kind, {**options.load_config(), "model": family.model,
                                             "pipeline": family.pipeline})

    def _process_for(self, kind: str, config: dict[str, Any]) -> ModelProcess:
        """The model process of one family and load config, made on first use (one per
        model a route names, so each Kling model name can run on a model of its own)."""
        key = (kind, json.dumps(config, sort_keys=True, default=str))
        process = self._family_processes.get(key)
        if process is None:
            process = ModelProcess(config, self.settings.data_dir,
                                   cancel_grace_seconds=self.options.cancel_grace_seconds)
            self._family_processes[key] = process
            self._process_locks[key] = asyncio.Lock()
        return process

    async def _generate_on(self, process: ModelProcess, call: dict[str, Any], out_path: Path,
                           on_progress: Any, ctx: TaskContext) -> dict[str, Any]:
        """One generation on a process outside the device pool, one task at a time."""
        lock = next(self._process_locks[key] for key, known in self._family_processes.items()
                    if known is process)
        async with lock:
            try:
                return await process.generate(call, out_path, on_progress, ctx.cancelled)
            except TransientProviderError:
                if process.pid is None:
                    await process.start()
                raise

    async def _run_family(self, spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        """image2video, images or text-to-audio: fetch the stored inputs, run the family's
        model process, store the MP4, the PNGs or the WAV and MP3."""
        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        for field, stored in spec.inputs.items():
            data = await ctx.storage.read_bytes(str(stored["key"]))
            suffix = str(stored["key"]).rsplit(".", 1)[-1]
            (ctx.work_dir / f"{field}.{suffix}").write_bytes(data)
        if spec.kind == VIDEO_EXTEND:
            await _fetch_source(spec, ctx)
        work = str(ctx.work_dir)
        call = (self._image2video_call(spec, work) if spec.kind == IMAGE2VIDEO
                else self._audio_call(spec) if spec.kind == TEXT_TO_AUDIO
                else self._expand_call(spec, work) if spec.kind == EXPAND
                else self._multi_image_call(spec, work) if spec.kind == MULTI_IMAGE2VIDEO
                else self._extend_call(spec, work) if spec.kind == VIDEO_EXTEND
                else self._multi_image2image_call(spec, work) if spec.kind == MULTI_IMAGE2IMAGE
                else self._images_call(spec, work))
        process = self._family_process(spec)
        await process.start()
        await ctx.set_processing()
        result_id = video_id_for(spec.task_id)
        out_path = ctx.work_dir / (f"{result_id}.mp4" if spec.kind in _VIDEO_FAMILIES
                                   else result_id)
        reported = -1

        async def on_progress(step: int, total: int) -> None:
            nonlocal reported
            percent = int(DENOISE_SHARE * step / max(1, total))
            if percent > reported:
                reported = percent
                await ctx.report_progress(percent)

        result = await self._generate_on(process, call, out_path, on_progress, ctx)
        ctx.raise_if_cancelled()
        if spec.kind in _VIDEO_FAMILIES:
            key = f"videos/{spec.task_id}/{result_id}.mp4"
            await ctx.storage.put_file(key, out_path)
            duration = int(result["frames"]) / int(result["fps"])
            return GenerationResult([VideoOutput(id=result_id, duration=duration,
                                                 storage_key=key)])
        if spec.kind == TEXT_TO_AUDIO:
            return await self._store_audio(spec, ctx, result_id, result)
        images = []
        for index, path in enumerate(result["images"]):
            key = f"images/{spec.task_id}/{result_id}-{index}.png"
            await ctx.storage.put_file(key, Path(path), "image/png")
            images.append(ImageOutput(index=index, storage_key=key))
        return GenerationResult([], images=images)

    @staticmethod
    async def _store_audio(spec: GenerationSpec, ctx: TaskContext, result_id: str,
                           result: dict[str, Any]) -> GenerationResult:
        """The sound in Kling's two formats, each stored under `audios/<task>/`."""
        seconds = int(result["samples"]) / int(result["sample_rate"])
        keys = {}
        for fmt, content_type in (("wav", "audio/wav"), ("mp3", "audio/mpeg")):
            key = f"audios/{spec.task_id}/{result_id}.{fmt}"
            await ctx.storage.put_file(key, Path(result[fmt]), content_type)
            keys[fmt] = key
        return GenerationResult([], audios=[AudioOutput(
            id=result_id, durations={fmt: seconds for fmt in keys}, storage_keys=keys)])

    async def run(self, spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        ctx.raise_if_cancelled()
        if spec.kind in (IMAGE2VIDEO, IMAGES, TEXT_TO_AUDIO, EXPAND, MULTI_IMAGE2VIDEO,
                         VIDEO_EXTEND, MULTI_IMAGE2IMAGE):
            return await self._run_family(spec, ctx)
        call = self.plan(spec)
        options = self._options_for(spec)
        if options.load_config() != self.options.load_config():
            return await self._run_on(self._process_for(TEXT2VIDEO, options.load_config_for(
                self.devices[0])), spec, call, ctx, pooled=False)
        await self.start()
        assert self._idle is not None
        process = await self._idle.get()
        try:
            return await self._run_on(process, spec, call, ctx)
        finally:
            self._idle.put_nowait(process)

    async def _run_on(self, process: ModelProcess, spec: GenerationSpec, call: PipelineCall,
                      ctx: TaskContext, pooled: bool = True) -> GenerationResult:
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

        if not pooled:
            await process.start()
            result = await self._generate_on(process, call.to_dict(), out_path, on_progress,
                                             ctx)
        else:
            try:
                result = await process.generate(call.to_dict(), out_path, on_progress,
                                                ctx.cancelled)
            except TransientProviderError:
                if process.pid is None:
                    # Crashed: respawn now, so the model is loading (or warm) for the next task.
                    await process.start()
                raise
        ctx.raise_if_cancelled()
        key = f"videos/{spec.task_id}/{video_id}.mp4"
        await ctx.storage.put_file(key, out_path)
        duration = int(result["frames"]) / int(result["fps"])
        log.info("task %s: %sx%s, %s frames (%.2f s) stored at %s", spec.task_id,
                 result["width"], result["height"], result["frames"], duration, key)
        return GenerationResult([VideoOutput(id=video_id, duration=duration, storage_key=key)])
