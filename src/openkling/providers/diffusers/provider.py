"""DiffusersProvider: Kling families served by open models on this host: text2video (Wan 2.1
by default), image2video (Wan 2.2 TI2V 5B), images/generations (SDXL), audio/text-to-audio
(Stable Audio Open 1.0), images/editing/expand (Qwen-Image inpainting),
videos/multi-image2video, videos/omni-video and videos/multi-elements (Wan VACE; SAM 2 for
multi-elements' selection), videos/video-extend (LTX-Video),
images/multi-image2image and images/omni-image (Qwen-Image-Edit Plus).

Each family is one entry of `LOCAL_FAMILIES` (its model, its pipeline call, where its result
is stored), and every model runs the same way: in a `ModelPool`, one warm model process per
device. The provider's own text-to-video model's pool starts with the worker; every other
model's (another family's, or one a route names) on its first task.

Construction is cheap and imports neither torch nor diffusers: the API process builds the
provider only to call `check` at create time. The worker calls `start`, which spawns the
model processes; `run` maps the request, hands it to an idle process of its model's pool and
stores what it made.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from openkling.config import Settings
from openkling.core.errors import Code, KlingError
from openkling.core.families import (
    EXPAND,
    IMAGE2VIDEO,
    IMAGES,
    MULTI_ELEMENTS,
    MULTI_IMAGE2IMAGE,
    MULTI_IMAGE2VIDEO,
    OMNI_IMAGE,
    OMNI_VIDEO,
    TEXT2VIDEO,
    TEXT_TO_AUDIO,
    VIDEO_EXTEND,
)
from openkling.core.models import GenerationSpec
from openkling.core.provider import (
    AudioOutput,
    CallContext,
    GenerationResult,
    ImageOutput,
    ProviderError,
    ProviderStatus,
    TaskContext,
    VideoOutput,
)
from openkling.providers.diffusers.catalogue import BY_NAME, listing, makes_audio
from openkling.providers.diffusers.extend import (
    ExtendOptions,
    extend_call,
    extend_options,
    source_video,
)
from openkling.providers.diffusers.families import (
    AudioOptions,
    ExpandOptions,
    Image2VideoOptions,
    ImageOptions,
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
from openkling.providers.diffusers.model_options import DiffusersOptions, parse_options
from openkling.providers.diffusers.model_process import ModelProcess
from openkling.providers.diffusers.multi_elements import (
    SELECTION,
    MultiElementsOptions,
    multi_elements_call,
    multi_elements_options,
)
from openkling.providers.diffusers.omni_image import (
    omni_image_call,
    omni_image_options,
    omni_text_call,
)
from openkling.providers.diffusers.omni_video import (
    SOURCE,
    SOURCE_SPAN_S,
    OmniVideoOptions,
    SourceVideo,
    check_fields,
    omni_video_call,
    omni_video_options,
)
from openkling.providers.diffusers.pool import ModelPool
from openkling.providers.diffusers.preflight import preflight
from openkling.providers.diffusers.selection import (
    MAX_VIDEO_BYTES,
    Selections,
    resolve_selection,
)

WHO = "the local diffusers provider"

log = logging.getLogger("openkling.providers.diffusers")

#: Share of the progress bar the denoising steps fill; decoding and encoding take the rest.
DENOISE_SHARE = 95.0
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


def _input_path(work: str, spec: GenerationSpec, field: str) -> str:
    """Where `run` puts the stored input `field` before the model process reads it."""
    return f"{work}/{field}.{spec.inputs[field]['key'].rsplit('.', 1)[-1]}"


class FamilyModel(Protocol):
    """What every family's model options name: the pipeline the model process loads."""

    @property
    def model(self) -> str: ...

    @property
    def pipeline(self) -> str: ...


M = TypeVar("M", bound=FamilyModel)


@dataclass(frozen=True)
class Job:
    """One task's generation as a family builds its call: the route's provider options, the
    family's model options within them, the seed and the folder holding the task's inputs
    (`"check"` at create time, when only the shape of the call matters)."""

    spec: GenerationSpec
    options: DiffusersOptions
    seed: int
    work: str


Store = Callable[[GenerationSpec, TaskContext, str, dict[str, Any], Path],
                 Awaitable[GenerationResult]]
Prepare = Callable[[GenerationSpec, TaskContext], Awaitable[None]]


@dataclass(frozen=True)
class LocalFamily(Generic[M]):
    """How one Kling family runs on this host. Adding a local family is adding one entry to
    `LOCAL_FAMILIES`; the provider checks, runs and stores every family through these."""

    #: The family's model options within a route's provider options (raises ValueError).
    model: Callable[[DiffusersOptions], M]
    #: The optional Kling fields the family honours with that model (see core/families.py).
    honours: Callable[[M], frozenset[str]]
    #: The model process's call (plain data); raises KlingError (400/1201) for what the
    #: model cannot honour, at create time (`check`) as at run time.
    call: Callable[[Job, M], dict[str, Any]]
    #: Stores what the model process wrote and returns the task's result.
    store: Store
    #: The suffix of the file the model process writes (its name is the result id).
    suffix: str = ""
    #: Puts what the call reads besides the stored inputs into the work folder.
    prepare: Prepare | None = None
    #: Another family whose model processes this one's tasks run in when both name the same
    #: model (one copy of the weights for two families of the same pipeline).
    shares_pool_of: str | None = None


class _Resolved(NamedTuple):
    """A spec's family on this host: the kind whose pool runs it, the route's provider
    options and the family's model options within them."""

    kind: str
    family: LocalFamily[Any]
    options: DiffusersOptions
    model: Any


# --- Stores: where each kind of output goes (the keys are part of the contract). ---

async def _store_video(spec: GenerationSpec, ctx: TaskContext, result_id: str,
                       result: dict[str, Any], out_path: Path) -> GenerationResult:
    """The MP4 under `videos/<task>/`."""
    key = f"videos/{spec.task_id}/{result_id}.mp4"
    await ctx.storage.put_file(key, out_path)
    duration = int(result["frames"]) / int(result["fps"])
    log.info("task %s: %sx%s, %s frames (%.2f s) stored at %s", spec.task_id,
             result["width"], result["height"], result["frames"], duration, key)
    return GenerationResult([VideoOutput(id=result_id, duration=duration, storage_key=key)])


async def _store_images(spec: GenerationSpec, ctx: TaskContext, result_id: str,
                        result: dict[str, Any], out_path: Path) -> GenerationResult:
    """The PNGs under `images/<task>/`, numbered as Kling indexes them."""
    images = []
    for index, path in enumerate(result["images"]):
        key = f"images/{spec.task_id}/{result_id}-{index}.png"
        await ctx.storage.put_file(key, Path(path), "image/png")
        images.append(ImageOutput(index=index, storage_key=key))
    return GenerationResult([], images=images)


async def _store_audio(spec: GenerationSpec, ctx: TaskContext, result_id: str,
                       result: dict[str, Any], out_path: Path) -> GenerationResult:
    """The sound in Kling's two formats, each stored under `audios/<task>/`."""
    seconds = int(result["samples"]) / int(result["sample_rate"])
    keys = {}
    for fmt, content_type in (("wav", "audio/wav"), ("mp3", "audio/mpeg")):
        key = f"audios/{spec.task_id}/{result_id}.{fmt}"
        await ctx.storage.put_file(key, Path(result[fmt]), content_type)
        keys[fmt] = key
    return GenerationResult([], audios=[AudioOutput(
        id=result_id, durations={fmt: seconds for fmt in keys}, storage_keys=keys)])


# --- Calls: what each family asks its model process for. ---

def _text2video_call(job: Job, model: DiffusersOptions) -> dict[str, Any]:
    spec = job.spec
    if spec.camera_control:
        raise KlingError.invalid(
            "camera_control", "camera control is not supported by the local diffusers "
            "provider (it cannot steer the camera of an open text-to-video model)"
        )
    _sound(spec, model.model)
    return pipeline_call(spec, model).to_dict()


def _image2video_call(job: Job, i2v: Image2VideoOptions) -> dict[str, Any]:
    spec = job.spec
    if "image" not in spec.inputs:
        raise KlingError.invalid("image", f"is required by {WHO} (it makes a video "
                                 "from a first frame)")
    first = spec.inputs["image"]
    return image2video_call(
        prompt=spec.prompt, negative_prompt=spec.negative_prompt or "",
        cfg_scale=spec.cfg_scale, mode=spec.mode, duration=spec.duration,
        image_size=(int(first["width"]), int(first["height"])),
        image_path=_input_path(job.work, spec, "image"),
        last_image_path=(_input_path(job.work, spec, "image_tail")
                         if "image_tail" in spec.inputs else None),
        seed=job.seed, options=i2v, sound=_sound(spec, i2v.model),
    ).to_dict()


def _images_call(job: Job, images: ImageOptions) -> dict[str, Any]:
    spec, request = job.spec, job.spec.request
    return images_call(
        prompt=spec.prompt, negative_prompt=spec.negative_prompt,
        aspect_ratio=str(request.get("aspect_ratio", "16:9")),
        resolution=str(request.get("resolution", "1k")), n=int(request.get("n", 1)),
        image_path=(_input_path(job.work, spec, "image") if "image" in spec.inputs else None),
        image_fidelity=float(request.get("image_fidelity", 0.5)),
        image_reference=request.get("image_reference"),
        human_fidelity=(None if request.get("human_fidelity") is None
                        else float(request["human_fidelity"])),
        seed=job.seed, options=images,
    ).to_dict()


def _text_to_audio_call(job: Job, audio: AudioOptions) -> dict[str, Any]:
    return text_to_audio_call(job.spec.request, seed=job.seed, options=audio).to_dict()


def _expand_call(job: Job, expand: ExpandOptions) -> dict[str, Any]:
    spec = job.spec
    image = spec.inputs.get("image")
    if image is None:
        raise KlingError.invalid("image", f"is required by {WHO} (the image to expand)")
    return expand_call(
        spec.request, image_size=(int(image["width"]), int(image["height"])),
        image_path=_input_path(job.work, spec, "image"), seed=job.seed, options=expand,
    ).to_dict()


def _stored_path(work: str, name: str, meta: dict[str, Any]) -> str:
    return f"{work}/{name}.{meta['key'].rsplit('.', 1)[-1]}"


def _multi_image2video_call(job: Job, vace: Any) -> dict[str, Any]:
    """The stored request and its reference images, in the client's order."""
    spec = job.spec
    return multi_image2video_call(
        spec.request,
        reference_paths=[_stored_path(job.work, name, meta)
                         for name, meta in reference_inputs(spec.inputs)],
        seed=job.seed, options=vace,
    ).to_dict()


def _omni_video_call(job: Job, vace: OmniVideoOptions) -> dict[str, Any]:
    """The stored request, its images (path and size) in the client's order, and its video
    to edit."""
    spec = job.spec
    stored = spec.inputs.get(SOURCE)
    source = None if stored is None else SourceVideo(
        _stored_path(job.work, SOURCE, stored), int(stored["width"]), int(stored["height"]),
        float(stored["fps"]), int(stored["frames"]))
    return omni_video_call(
        spec.request,
        images=[(_stored_path(job.work, name, meta), (int(meta["width"]), int(meta["height"])))
                for name, meta in reference_inputs(spec.inputs)],
        seed=job.seed, options=vace, source=source,
    ).to_dict()


def _extend_call(job: Job, extend: ExtendOptions) -> dict[str, Any]:
    """The stored video `video_id` names (its copy in the work folder: `_fetch_source`)."""
    return extend_call(job.spec.request, video_path=f"{job.work}/video_id.mp4",
                       seed=job.seed, options=extend).to_dict()


async def _fetch_source(spec: GenerationSpec, ctx: TaskContext) -> None:
    """video-extend's source video (another task's stored result) into the work folder; a
    source removed since the create (its task's retention) fails the task, not retried."""
    key = str(source_video(spec.request)["key"])
    if not await ctx.storage.exists(key):
        raise ProviderError(f"video {spec.request.get('video_id')!r} is no longer stored "
                            "(its task's files were removed)")
    (ctx.work_dir / "video_id.mp4").write_bytes(await ctx.storage.read_bytes(key))


def _multi_image2image_call(job: Job, edit: Any) -> dict[str, Any]:
    """The stored request, its subject images in order, its scene and style images."""
    spec, work = job.spec, job.work
    return multi_image2image_call(
        spec.request,
        subject_paths=[_stored_path(work, name, meta)
                       for name, meta in subject_inputs(spec.inputs)],
        scene_path=(_input_path(work, spec, "scene_image")
                    if "scene_image" in spec.inputs else None),
        style_path=(_input_path(work, spec, "style_image")
                    if "style_image" in spec.inputs else None),
        seed=job.seed, options=edit,
    ).to_dict()


def _omni_image_call(job: Job, edit: Any) -> dict[str, Any]:
    """The stored request, its image_list images in order and the first one's size."""
    images = reference_inputs(job.spec.inputs)
    return omni_image_call(
        job.spec.request,
        image_paths=[_stored_path(job.work, name, meta) for name, meta in images],
        first_size=((int(images[0][1]["width"]), int(images[0][1]["height"]))
                    if images else None),
        seed=job.seed, options=edit,
    ).to_dict()


def _omni_text_call(job: Job, images: ImageOptions) -> dict[str, Any]:
    return omni_text_call(job.spec.request, seed=job.seed, options=images).to_dict()


def _multi_elements_call(job: Job, model: MultiElementsOptions) -> dict[str, Any]:
    """The stored request with its session's copy, the swap's image, the session's video
    (copied into the work folder by `_fetch_selection`)."""
    spec = job.spec
    return multi_elements_call(
        spec.request,
        reference_paths=[_stored_path(job.work, name, meta)
                         for name, meta in reference_inputs(spec.inputs)],
        video_path=f"{job.work}/selection.mp4", seed=job.seed, options=model,
    ).to_dict()


async def _fetch_selection(spec: GenerationSpec, ctx: TaskContext) -> None:
    """The session's video into the work folder; one removed since the create fails the
    task, not retried."""
    key = str(spec.request[SELECTION]["video_key"])
    if not await ctx.storage.exists(key):
        raise ProviderError(f"the video of session {spec.request.get('session_id')!r} is no "
                            "longer stored")
    (ctx.work_dir / "selection.mp4").write_bytes(await ctx.storage.read_bytes(key))


async def _store_session_video(spec: GenerationSpec, ctx: TaskContext, result_id: str,
                               result: dict[str, Any], out_path: Path) -> GenerationResult:
    """The MP4 as every video's, its record naming the session (Kling's result does)."""
    stored = await _store_video(spec, ctx, result_id, result, out_path)
    return GenerationResult([replace(video, session_id=str(spec.request.get("session_id")))
                             for video in stored.videos])


def _has_no_transformer(kind: str, model: FamilyModel) -> bool:
    """Whether a family's model is a UNet one (SDXL) by its pipeline or the catalogue: the
    provider's `quantization` then leaves it as it is rather than fail its tasks."""
    entry = BY_NAME.get(model.model)
    pipeline = entry.pipelines.get(kind, model.pipeline) if entry else model.pipeline
    return pipeline.startswith("StableDiffusion")


def _nothing(model: Any) -> frozenset[str]:
    return frozenset()


#: The families this provider serves, by Kling family path (core/families.py).
LOCAL_FAMILIES: dict[str, LocalFamily[Any]] = {
    TEXT2VIDEO: LocalFamily(
        model=lambda options: options,
        # `sound` where the model makes a soundtrack (see catalogue.py).
        honours=lambda t2v: frozenset({"sound"} if makes_audio(t2v.model) else set()),
        call=_text2video_call, store=_store_video, suffix=".mp4"),
    IMAGE2VIDEO: LocalFamily(
        model=lambda options: image2video_options(options.image2video, options.is_tiny,
                                                  options.model),
        honours=lambda i2v: frozenset({"image_tail"} if i2v.image_tail else set())
        | ({"sound"} if makes_audio(i2v.model) else set()),
        call=_image2video_call, store=_store_video, suffix=".mp4"),
    IMAGES: LocalFamily(
        model=lambda options: image_options(options.images, options.is_tiny),
        # image_reference (and its human_fidelity) where the model has an IP-Adapter.
        honours=lambda images: frozenset({"image", "image_reference", "human_fidelity"}
                                         if images.reference_adapter else {"image"}),
        call=_images_call, store=_store_images),
    # Kling's text-to-audio has no optional fields: prompt and duration are checked by
    # its call (families.text_to_audio_call).
    TEXT_TO_AUDIO: LocalFamily(
        model=lambda options: audio_options(options.audio, options.is_tiny),
        honours=_nothing, call=_text_to_audio_call, store=_store_audio),
    # Likewise outpainting (families.expand_call).
    EXPAND: LocalFamily(
        model=lambda options: expand_options(options.expand, options.is_tiny),
        honours=_nothing, call=_expand_call, store=_store_images),
    # The next four check their own fields too (families.multi_image2video_call,
    # omni_video.omni_video_call, extend.extend_call, families.multi_image2image_call).
    MULTI_IMAGE2VIDEO: LocalFamily(
        model=lambda options: multi_image_options(options.multi_image2video, options.is_tiny),
        honours=_nothing, call=_multi_image2video_call, store=_store_video, suffix=".mp4"),
    OMNI_VIDEO: LocalFamily(
        model=lambda options: omni_video_options(options.omni_video, options.is_tiny),
        honours=_nothing, call=_omni_video_call, store=_store_video, suffix=".mp4",
        shares_pool_of=MULTI_IMAGE2VIDEO),
    VIDEO_EXTEND: LocalFamily(
        model=lambda options: extend_options(options.extend, options.is_tiny),
        honours=_nothing, call=_extend_call, store=_store_video, suffix=".mp4",
        prepare=_fetch_source),
    MULTI_IMAGE2IMAGE: LocalFamily(
        model=lambda options: multi_image2image_options(options.multi_image2image,
                                                        options.is_tiny),
        honours=_nothing, call=_multi_image2image_call, store=_store_images),
    # Checks its own fields too (omni_image.omni_image_call); its calls are
    # multi-image2image's, so the same model serves both from one pool.
    OMNI_IMAGE: LocalFamily(
        model=lambda options: omni_image_options(options.omni_image, options.is_tiny),
        honours=_nothing, call=_omni_image_call, store=_store_images,
        shares_pool_of=MULTI_IMAGE2IMAGE),
    # Wan VACE repainting the element a SAM 2 session marked (multi_elements.py,
    # selection.py); it checks its own fields too.
    MULTI_ELEMENTS: LocalFamily(
        model=lambda options: multi_elements_options(options.multi_elements, options.is_tiny),
        honours=_nothing, call=_multi_elements_call, store=_store_session_video,
        suffix=".mp4", prepare=_fetch_selection),
}

#: A text-only omni-image: Qwen-Image-Edit Plus cannot start from text alone, so it runs on
#: the images/generations model, in that family's processes (omni_image.omni_text_call).
OMNI_IMAGE_FROM_TEXT: LocalFamily[ImageOptions] = LocalFamily(
    model=LOCAL_FAMILIES[IMAGES].model, honours=_nothing, call=_omni_text_call,
    store=_store_images)


def _family_of(spec: GenerationSpec) -> tuple[str, LocalFamily[Any]] | None:
    """The local family a spec runs as, by its pool's kind (None: not served here)."""
    if spec.kind == OMNI_IMAGE and not reference_inputs(spec.inputs):
        return IMAGES, OMNI_IMAGE_FROM_TEXT
    family = LOCAL_FAMILIES.get(spec.kind)
    return None if family is None else (spec.kind, family)


class DiffusersProvider:
    """Runs open diffusers models in warm model processes, one per device per model.

    A device renders one generation at a time, so the worker may run as many tasks at once
    as there are devices; each task takes an idle process of its model's pool and gives it
    back when done. A crash ends only the task on that device: its process is started again,
    the others keep rendering.
    """

    name = "diffusers"

    def __init__(self, options: dict[str, Any], settings: Settings) -> None:
        self.options: DiffusersOptions = parse_options(options)
        self.settings = settings
        #: The provider's own model options of each family (routes may name others).
        self.i2v: Image2VideoOptions = LOCAL_FAMILIES[IMAGE2VIDEO].model(self.options)
        self.images: ImageOptions = LOCAL_FAMILIES[IMAGES].model(self.options)
        self.audio: AudioOptions = LOCAL_FAMILIES[TEXT_TO_AUDIO].model(self.options)
        self.expand: ExpandOptions = LOCAL_FAMILIES[EXPAND].model(self.options)
        #: Per family, the optional fields these models honour (see core/families.py).
        self.families: dict[str, frozenset[str]] = {
            kind: family.honours(family.model(self.options))
            for kind, family in LOCAL_FAMILIES.items()
        }
        self.devices = self.options.device_list
        self.concurrency = len(self.devices)
        #: Every model's pool, by family and load config, made on first use; the provider's
        #: own text-to-video model's is `_default` and starts with `start`.
        self._pools: dict[tuple[str, str], ModelPool] = {}
        self._default = (TEXT2VIDEO, _config_key(self.options.load_config()))
        self._selections = Selections(self._segmenter_process,
                                      settings.data_dir / "work" / "selections")

    @property
    def pools(self) -> list[ModelPool]:
        """The pools made so far, the provider's own text-to-video model's first."""
        default = self._pools.get(self._default)
        return ([default] if default else []) + [
            pool for key, pool in self._pools.items() if key != self._default]

    @property
    def model_processes(self) -> list[ModelProcess]:
        """The own model's processes, one per device in the order of `devices` (empty
        before `start`)."""
        default = self._pools.get(self._default)
        return list(default.processes) if default else []

    @property
    def model_process(self) -> ModelProcess | None:
        processes = self.model_processes
        return processes[0] if processes else None

    def describe_models(self, routes: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """The catalogue, with the Kling model names `routes` send to each model."""
        return listing(self.options.model_dump(exclude_unset=True), routes)

    def preflight(self) -> str | None:
        """Why this host cannot run the configured model (with the fix), or None."""
        return preflight(self.options)

    def status(self) -> ProviderStatus:
        """Where the own model's processes are (see `ModelPool.status`). The other models
        load on their first task, which fails with the load error if one cannot load."""
        default = self._pools.get(self._default)
        if default is None:
            return ProviderStatus("loading",
                                  f"the model process is loading {self.options.model}")
        return default.status()

    def _options_for(self, spec: GenerationSpec) -> DiffusersOptions:
        """The provider options with the route's overrides: a route may name another `model`
        (or other load options) for its Kling model name, which then runs in a pool of its
        own (see `pool_for`)."""
        try:
            return self.options.merged(spec.options)
        except ValueError as exc:
            raise ProviderError(str(exc)) from None

    def _resolve(self, spec: GenerationSpec) -> _Resolved:
        """The spec's family (as which kind it runs), the route's options and the family's
        model options; a bad route is a ProviderError (a misconfiguration, not the request's
        fault)."""
        found = _family_of(spec)
        if found is None:
            raise KlingError.invalid("model_name", f"{spec.kind} is not supported by {WHO}")
        kind, family = found
        options = self._options_for(spec)
        try:
            return _Resolved(kind, family, options, family.model(options))
        except ValueError as exc:
            raise ProviderError(str(exc)) from None

    def _job(self, spec: GenerationSpec, options: DiffusersOptions, work: str) -> Job:
        """The seed is the route's fixed `seed`, else derived from the task (a retry renders
        the same)."""
        seed = options.seed if options.seed is not None else seed_for(spec.task_id)
        return Job(spec, options, seed, work)

    def check(self, spec: GenerationSpec) -> None:
        """Reject at create time what a local model cannot honour (400/1201), no I/O."""
        try:
            resolved = self._resolve(spec)
        except ProviderError as exc:
            raise KlingError(Code.INTERNAL, f"diffusers provider misconfigured: {exc}") from None
        resolved.family.call(self._job(spec, resolved.options, "check"), resolved.model)

    def plan(self, spec: GenerationSpec) -> PipelineCall:
        """The text2video pipeline call a spec maps to (what `run` will ask for)."""
        return pipeline_call(spec, self._options_for(spec))

    def pool_for(self, spec: GenerationSpec) -> ModelPool:
        """The pool of the spec's model: the own text-to-video model's, or the one for its
        family and load config, made on first use (one per model a route names, so each
        Kling model name can run on a model of its own)."""
        resolved = self._resolve(spec)
        return self._pool(resolved.kind, resolved.options, resolved.model)

    def _pool(self, kind: str, options: DiffusersOptions, model: FamilyModel) -> ModelPool:
        config = {**options.load_config(), "model": model.model, "pipeline": model.pipeline}
        if _has_no_transformer(kind, model):
            config["quantization"] = "none"  # a UNet (SDXL): the option is the transformers'
        family = LOCAL_FAMILIES.get(kind)
        key = ((family and family.shares_pool_of) or kind, _config_key(config))
        pool = self._pools.get(key)
        if pool is None:
            pool = ModelPool(config, options.device_list, self.settings.data_dir,
                             cancel_grace_seconds=self.options.cancel_grace_seconds)
            self._pools[key] = pool
        return pool

    def _segmenter_process(self) -> Any:
        """An idle process of the SAM 2 segmenter's pool (made on first use, in the process
        that asks: the API process for the selection calls)."""
        model = LOCAL_FAMILIES[MULTI_ELEMENTS].model(self.options)
        return self._pool(SEGMENTER, self.options,
                          _Segmenter(model.segmenter, "Sam2VideoModel")).take()

    async def forward(self, family: str, action: str, body: dict[str, Any],
                      call: CallContext | None = None) -> Any:
        """multi-elements' selection session, answered here (selection.py)."""
        if family != MULTI_ELEMENTS or call is None:
            raise KlingError.invalid("model_name", f"{family}/{action} is not supported by "
                                     f"{WHO}")
        return await self._selections.handle(action, body, call)

    async def resolve_create(self, family: str, stored: dict[str, Any],
                             call: CallContext) -> None:
        """multi-elements' create: the account's session copied into the request;
        omni-video's: the video to edit fetched, checked and stored."""
        if family == MULTI_ELEMENTS:
            await resolve_selection(stored, call)
        elif family == OMNI_VIDEO:
            await self._store_omni_source(stored, call)

    async def _store_omni_source(self, stored: dict[str, Any], call: CallContext) -> None:
        """The `video_list` video downloaded past the outbound guard, probed and stored as
        the task's input `SOURCE` (retention removes it with the task's other inputs), once
        the fields that need no video pass."""
        inputs = stored.get("inputs") or {}
        url = check_fields(stored, len(reference_inputs(inputs)))
        if url is None:
            return
        if call.fetch_url is None:
            raise KlingError.invalid(SOURCE, "this server fetches no URLs")
        data = await call.fetch_url(SOURCE, url, MAX_VIDEO_BYTES)
        key = f"inputs/{call.task_id or uuid.uuid4().hex}/{SOURCE}.mp4"
        probed = await self._selections.store_video(SOURCE, data, key, call, (SOURCE_SPAN_S,))
        stored["inputs"] = {**inputs, SOURCE: {
            "key": key, "width": int(probed["width"]), "height": int(probed["height"]),
            "fps": float(probed["fps"]), "frames": int(probed["frames"]),
            "content_type": "video/mp4"}}

    async def start(self) -> None:
        """Spawn the own model's process on each device; the pipelines load in the
        background."""
        await self._pool(TEXT2VIDEO, self.options, self.options).start()

    async def close(self) -> None:
        for pool in self._pools.values():
            await pool.close()

    async def run(self, spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        """Any family: fetch the stored inputs, take an idle process of the model's pool,
        generate, store the result where the family's outputs go."""
        ctx.raise_if_cancelled()
        try:
            kind, family, options, model = self._resolve(spec)
        except KlingError as exc:
            raise ProviderError(exc.message) from None
        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        for field, stored in spec.inputs.items():
            data = await ctx.storage.read_bytes(str(stored["key"]))
            suffix = str(stored["key"]).rsplit(".", 1)[-1]
            (ctx.work_dir / f"{field}.{suffix}").write_bytes(data)
        if family.prepare is not None:
            await family.prepare(spec, ctx)
        call = family.call(self._job(spec, options, str(ctx.work_dir)), model)
        result_id = video_id_for(spec.task_id)
        out_path = ctx.work_dir / f"{result_id}{family.suffix}"
        reported = -1

        async def on_progress(step: int, total: int) -> None:
            nonlocal reported
            percent = int(DENOISE_SHARE * step / max(1, total))
            if percent > reported:
                reported = percent
                await ctx.report_progress(percent)

        async with self._pool(kind, options, model).take() as process:
            await ctx.set_processing()
            result = await process.generate(call, out_path, on_progress, ctx.cancelled)
        ctx.raise_if_cancelled()
        return await family.store(spec, ctx, result_id, result, out_path)


#: The segmenter pool's key among the provider's pools (not a family: no task runs on it).
SEGMENTER = "segmenter"


@dataclass(frozen=True)
class _Segmenter:
    model: str
    pipeline: str


def _config_key(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=str)
