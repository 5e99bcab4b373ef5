"""The pipeline itself: load once, then generate and encode. Lives in the model process only.

Importing this module imports torch and diffusers; the API process never does.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from openkling.errors import OpenKlingError
from openkling.providers.diffusers.cache_hooks import TransformerCache
from openkling.providers.diffusers.encode import write_mp3, write_mp4, write_wav
from openkling.providers.diffusers.model_options import TINY_MODEL
from openkling.providers.diffusers.quantization import (
    check_quantization,
    pipeline_quantization,
    quantize_built,
    transformer_components,
)
from openkling.providers.diffusers.reference import ReferenceAdapters

# Typed as Any: diffusers carries few annotations.
diffusers: Any = importlib.import_module("diffusers")

log = logging.getLogger("openkling.providers.diffusers.pipeline")

_DTYPES: dict[str, torch.dtype] = {
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
    "float32": torch.float32,
}


#: Pipelines that hand their latents to the VAE in the model's dtype (FLUX.1's decode and
#: image-to-image encode, FLUX.2's decode): `vae_fp32` would fail there, so their VAE keeps
#: the model's dtype.
#: A reference picture is shrunk to fit this before the IP-Adapter's image processor (which
#: resizes it to its encoder's 224 pixels anyway).
REFERENCE_SIZE = (1024, 1024)
VAE_IN_MODEL_DTYPE = frozenset({"FluxPipeline", "FluxImg2ImgPipeline", "Flux2Pipeline"})


class GenerationCancelled(OpenKlingError):
    """Raised from the step callback once the shared cancel flag is seen."""


def resolve_device(name: str) -> torch.device:
    """'auto' is CUDA when this process can see a GPU, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """'auto' is bfloat16 on CUDA (Wan's training precision) and float32 elsewhere."""
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return _DTYPES[name]


def resolve_offload(name: str, model: str, device: torch.device,
                    quantization: str = "none") -> str:
    """'auto' is the catalogue's pick for this GPU's memory ('none' on a CPU), the
    transformers counted as `quantization` stores them."""
    if name != "auto":
        return name
    from openkling.providers.diffusers.catalogue import offload_for

    total = (torch.cuda.get_device_properties(device).total_memory
             if device.type == "cuda" else None)
    chosen = offload_for(model, total, quantization)
    log.info("cpu_offload auto: %s for %s (GPU memory: %s)", chosen, model,
             f"{total / 1024**3:.0f} GiB" if total else "none, not a GPU")
    return chosen


def cpu_threads(configured: int | None) -> int:
    """Torch threads for CPU inference: all usable cores but one (kept for the API process).

    Measured on 2 busy cores: two spinning OpenMP threads made the VAE decode 8x slower
    than one.
    """
    if configured:
        return configured
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


def model_source(model: str, data_dir: Path) -> str:
    """Where from_pretrained reads: a tiny model's cached folder, a local folder or a hub id."""
    from openkling.providers.diffusers.tiny import TINY_BUILDERS, ensure_saved

    if model == TINY_MODEL or model in TINY_BUILDERS:
        return str(ensure_saved(data_dir / "models" / model, model))
    return model


def load_rgb(path: str, size: tuple[int, int]) -> Any:
    """An input image as RGB, cropped to the frame's shape and resized to it."""
    from PIL import Image, ImageOps

    with Image.open(path) as img:
        return ImageOps.fit(img.convert("RGB"), size, method=Image.Resampling.LANCZOS)


def load_reference(path: str, size: tuple[int, int]) -> Any:
    """A reference image as RGB, its shape kept, no larger than the frame (the pipeline
    fits it into the frame; shrinking here first spares it a full-size image)."""
    from PIL import Image

    with Image.open(path) as img:
        picture = img.convert("RGB")
    picture.thumbnail(size, Image.Resampling.LANCZOS)
    return picture


def _built_in(model: str, device: torch.device, dtype: torch.dtype) -> Any:
    """A random-weight pipeline at a published architecture, built on the device; else None."""
    from openkling.providers.diffusers.random_models import (
        ARCHITECTURES,
        BUILDERS,
        build_random_wan,
    )

    arch = ARCHITECTURES.get(model)
    if arch is None and model not in BUILDERS:
        return None
    log.info("building %s (RANDOM weights: noise only) on %s (%s)", model, device, dtype)
    if arch is None:
        return BUILDERS[model](device, dtype)
    return build_random_wan(arch, device, dtype)


def pipeline_class(name: str) -> Any:
    if name == "auto":
        return diffusers.DiffusionPipeline
    cls = getattr(diffusers, name, None)
    if not (isinstance(cls, type) and issubclass(cls, diffusers.DiffusionPipeline)):
        raise ValueError(f"pipeline: {name!r} is not a diffusers pipeline class")
    return cls


def _save_pngs(pictures: Any, out_path: Path) -> list[str]:
    """PIL pictures as `<out_path stem>-<index>.png` next to `out_path` (renamed into place,
    so a crash never leaves a truncated file)."""
    paths = []
    for index, picture in enumerate(pictures):
        target = out_path.with_name(f"{out_path.stem}-{index}.png")
        partial = target.with_name(target.name + ".partial")
        picture.save(partial, format="PNG")
        os.replace(partial, target)
        paths.append(str(target))
    return paths



def step_callback(total: int, progress: Callable[[int, int], None],
                  cancelled: Callable[[], bool]) -> Callable[..., dict[str, Any]]:
    """A pipeline's `callback_on_step_end`: reports each step (capped at `total`) and stops
    the generation when the task is cancelled."""

    def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> (
            dict[str, Any]):
        progress(min(step + 1, total), total)
        if cancelled():
            raise GenerationCancelled
        return {}

    return on_step_end

class StepBar:
    """Stands in for the tqdm bar of a pipeline that takes no step callback (HunyuanVideo
    1.5): the denoising loop calls update() once a step, which reports progress and stops a
    cancelled generation."""

    def __init__(self, total: int, progress: Callable[[int, int], None],
                 cancelled: Callable[[], bool]) -> None:
        self.total, self.done = total, 0
        self.progress, self.cancelled = progress, cancelled

    def __enter__(self) -> StepBar:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def update(self, n: int = 1) -> None:
        self.done += n
        self.progress(min(self.done, self.total), self.total)
        if self.cancelled():
            raise GenerationCancelled


def set_guider_scale(pipe: Any, scale: float) -> None:
    """Guidance of a pipeline that takes it from its `guider` component (HunyuanVideo 1.5's
    ClassifierFreeGuidance) rather than a `guidance_scale` argument; 1.0 or less turns the
    unconditional pass off, as guidance 1.0 means for the other pipelines."""
    pipe.guider = pipe.guider.new(guidance_scale=scale, enabled=scale > 1.0)


def embeds_guidance(pipe: Any) -> bool:
    """A guidance-distilled transformer (FLUX.1-dev): `guidance_scale` is an input of the
    model, not classifier-free guidance."""
    config = getattr(getattr(pipe, "transformer", None), "config", None)
    return bool(getattr(config, "guidance_embeds", False))


class PipelineRunner:
    """A loaded pipeline, configured with the memory savers and speed-ups asked for."""

    def __init__(self, pipe: Any, device: torch.device, dtype: torch.dtype,
                 config: dict[str, Any]) -> None:
        self.pipe = pipe
        self.device = device
        self.dtype = dtype
        self.config = config
        self._call_params = set(inspect.signature(pipe.__call__).parameters)
        self._img2img: Any = None  # made from `pipe` on the first image-to-image call
        self._inpaint: Any = None  # made from `pipe` on the first outpainting call
        self.cache: TransformerCache | None = None  # the `cache` option, set by load
        self.data_dir = Path(".")  # where built-in models are saved, set by load
        self._reference_adapters: ReferenceAdapters | None = None  # on first image_reference

    @classmethod
    def load(cls, config: dict[str, Any], data_dir: Path) -> PipelineRunner:
        # Progress bars belong on a terminal, not in a server's log.
        diffusers.utils.logging.disable_progress_bar()
        importlib.import_module("transformers").utils.logging.disable_progress_bar()
        device = resolve_device(str(config["device"]))
        dtype = resolve_dtype(str(config["dtype"]), device)
        if device.type == "cpu":
            torch.set_num_threads(cpu_threads(config.get("cpu_threads")))
        quantization = str(config.get("quantization") or "none")
        check_quantization(quantization, device.type, torch.cuda.get_device_capability(device)
                           if device.type == "cuda" else None)
        pipe = _built_in(str(config["model"]), device, dtype)
        if pipe is not None and quantization != "none":
            built = [getattr(pipe, name) for name in transformer_components(pipe.components)]
            if not built:
                raise ValueError("quantization: this pipeline has no transformer")
            log.info("quantizing %s (%s)", ", ".join(map(str, transformer_components(
                pipe.components))), quantization)
            quantize_built(quantization, built)
        if pipe is None:
            source = model_source(str(config["model"]), data_dir)
            log.info("loading %s on %s (%s)", source, device, dtype)
            from openkling.providers.diffusers.qwen_edit import edit_load_kwargs

            pipe_class = pipeline_class(str(config["pipeline"]))
            kwargs = edit_load_kwargs(source, str(config["pipeline"]))
            if quantization != "none":
                # model_index.json names the components: refuse before any weight loads.
                components = transformer_components(pipe_class.load_config(source))
                if not components:
                    raise ValueError("quantization: this pipeline has no transformer")
                log.info("quantizing %s (%s)", ", ".join(components), quantization)
                kwargs["quantization_config"] = pipeline_quantization(quantization, components)
            pipe = pipe_class.from_pretrained(source, dtype=dtype, **kwargs)
        vae = getattr(pipe, "vae", None)
        if vae is not None and config.get("vae_fp32") and dtype != torch.float32:
            if type(pipe).__name__ in VAE_IN_MODEL_DTYPE:
                log.info("vae_fp32: %s keeps its VAE in %s (its pipeline does not cast the "
                         "latents to the VAE's dtype)", type(pipe).__name__, dtype)
            else:
                vae.to(dtype=torch.float32)
        if config.get("flow_shift") is not None:
            scheduler = pipe.scheduler
            pipe.scheduler = type(scheduler).from_config(
                scheduler.config, flow_shift=float(config["flow_shift"])
            )
        # Wan 2.2 A14B has a second expert: every transformer option applies to both.
        experts = [t for t in (getattr(pipe, "transformer", None),
                               getattr(pipe, "transformer_2", None)) if t is not None]
        for option in ("attention_backend", "torch_compile"):
            if config.get(option) and not experts:
                raise ValueError(f"{option}: this pipeline has no transformer")
        for transformer in experts:
            if config.get("attention_backend"):
                transformer.set_attention_backend(str(config["attention_backend"]))
        cache = TransformerCache(config, experts, dtype)
        offload = resolve_offload(str(config.get("cpu_offload", "none")),
                                  str(config["model"]), device, quantization)
        if offload == "model":
            pipe.enable_model_cpu_offload(device=device)
        elif offload == "sequential":
            pipe.enable_sequential_cpu_offload(device=device)
        else:
            pipe.to(device)
        if config.get("vae_tiling"):
            if vae is None or not hasattr(vae, "enable_tiling"):
                raise ValueError("vae_tiling: this pipeline's VAE cannot tile")
            vae.enable_tiling()
        if config.get("torch_compile"):
            mode = config.get("compile_mode")
            for transformer in experts:
                transformer.compile(**({"mode": mode} if mode else {}))
        pipe.set_progress_bar_config(disable=True)
        runner = cls(pipe, device, dtype, config)
        runner.cache = cache
        runner.data_dir = data_dir
        return runner

    def describe(self) -> dict[str, Any]:
        return {
            "pipeline": type(self.pipe).__name__,
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "model": self.config.get("model"),
        }

    def generate(
        self,
        call: dict[str, Any],
        out_path: Path,
        progress: Callable[[int, int], None],
        cancelled: Callable[[], bool],
    ) -> dict[str, Any]:
        """Run one pipeline call, stopping between steps when `cancelled()`; encode the MP4
        (or, for an image call, write the PNGs)."""
        if cancelled():
            raise GenerationCancelled
        if self.cache is not None:
            steps = int(call["num_inference_steps"])
            if call.get("image_path") and call.get("strength") is not None:
                steps = max(1, int(steps * float(call["strength"])))  # image-to-image runs fewer
            self.cache.prepare(steps)
        if call.get("kind") == "images":
            return self._generate_images(call, out_path, progress, cancelled)
        if call.get("kind") == "audio":
            return self._generate_audio(call, out_path, progress, cancelled)
        if call.get("kind") == "expand":
            return self._generate_expand(call, out_path, progress, cancelled)
        if call.get("kind") == "extend":
            from openkling.providers.diffusers.extend_pipeline import generate_extend

            return generate_extend(self.pipe, call, out_path, progress, cancelled,
                                   GenerationCancelled)
        if call.get("kind") == "edit":
            return self._generate_edit(call, out_path, progress, cancelled)
        if call.get("kind") == "inpaint":
            from openkling.providers.diffusers.segment import generate_inpaint

            return generate_inpaint(self, call, out_path, progress, cancelled,
                                    GenerationCancelled)
        total = int(call["num_inference_steps"])

        def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> (
                dict[str, Any]):
            progress(step + 1, total)
            if cancelled():
                raise GenerationCancelled
            return {}

        kwargs: dict[str, Any] = {
            "prompt": call["prompt"],
            "negative_prompt": call["negative_prompt"],
            "width": call["width"],
            "height": call["height"],
            "num_frames": call["num_frames"],
            "num_inference_steps": total,
            "guidance_scale": call["guidance_scale"],
            # A CPU generator gives the same noise for a seed on every device.
            "generator": torch.Generator(device="cpu").manual_seed(int(call["seed"])),
            "output_type": "np",
            "callback_on_step_end": on_step_end,
            "max_sequence_length": call["max_sequence_length"],
            "frame_rate": float(call["fps"]),  # LTX-2 conditions on it
        }
        size = (int(call["width"]), int(call["height"]))
        if call.get("image_path"):
            kwargs["image"] = load_rgb(str(call["image_path"]), size)
        if call.get("last_image_path"):
            if "last_image" not in self._call_params:
                # image2video.image_tail was set for a pipeline without a last frame
                # (HunyuanVideo 1.5's): fail rather than drop the frame unseen.
                raise ValueError(f"{type(self.pipe).__name__} takes no last frame "
                                 "(image2video.image_tail needs a model that does)")
            kwargs["last_image"] = load_rgb(str(call["last_image_path"]), size)
        if call.get("reference_image_paths"):
            if "reference_images" not in self._call_params:
                raise ValueError(f"{type(self.pipe).__name__} takes no reference images "
                                 "(videos/multi-image2video needs a Wan VACE model)")
            kwargs["reference_images"] = [load_reference(str(path), size)
                                          for path in call["reference_image_paths"]]
        if call.get("first_frame_path") or call.get("end_frame_path"):
            kwargs["video"], kwargs["mask"] = self._frame_conditioning(call, size)
        if call.get("source_path"):
            kwargs["video"], kwargs["mask"] = self._source_conditioning(call, size)
        kwargs = {key: value for key, value in kwargs.items() if key in self._call_params}
        stepped = "callback_on_step_end" in self._call_params
        if not stepped:
            bar = StepBar(total, progress, cancelled)
            self.pipe.progress_bar = lambda iterable=None, total=None: bar
        if "guidance_scale" not in self._call_params and hasattr(self.pipe, "guider"):
            set_guider_scale(self.pipe, float(call["guidance_scale"]))
        try:
            with torch.inference_mode():
                output = self.pipe(**kwargs)
        except BaseException:
            # Stopped mid-loop: reset cache state and offload hooks as a finished call would.
            self.pipe.maybe_free_model_hooks()
            raise
        finally:
            if not stepped:
                del self.pipe.progress_bar  # the class's own again
        audio = getattr(output, "audio", None) if call.get("sound") else None
        if call.get("sound") and audio is None:
            raise ValueError(f"{type(self.pipe).__name__} returned no sound")
        encoded = write_mp4(output.frames[0], out_path, int(call["fps"]),
                            audio=None if audio is None else audio[0],
                            sample_rate=self._sample_rate() if audio is not None else 0)
        return {
            "path": str(encoded.path),
            "frames": encoded.frames,
            "fps": encoded.fps,
            "width": encoded.width,
            "height": encoded.height,
            "audio_samples": encoded.audio_samples,
            "sample_rate": encoded.sample_rate,
        }

    def _frame_conditioning(self, call: dict[str, Any],
                            size: tuple[int, int]) -> tuple[list[Any], list[Any]]:
        """omni-video's first/end frames as VACE's conditioning `video` and `mask`."""
        from openkling.providers.diffusers.omni_video import frame_conditioning

        if "mask" not in self._call_params:
            raise ValueError(f"{type(self.pipe).__name__} takes no conditioning frames "
                             "(videos/omni-video needs a Wan VACE model)")
        first, last = (load_rgb(str(call[key]), size) if call.get(key) else None
                       for key in ("first_frame_path", "end_frame_path"))
        return frame_conditioning(first, last, size, int(call["num_frames"]))

    def _source_conditioning(self, call: dict[str, Any],
                             size: tuple[int, int]) -> tuple[list[Any], list[Any]]:
        """omni-video's video to edit, at the model's rate and frame count, as VACE's
        conditioning `video` under an all-white `mask`."""
        from openkling.providers.diffusers.omni_video import source_conditioning
        from openkling.providers.diffusers.segment import read_resampled

        if "mask" not in self._call_params:
            raise ValueError(f"{type(self.pipe).__name__} takes no conditioning frames "
                             "(videos/omni-video needs a Wan VACE model)")
        frames = read_resampled(str(call["source_path"]), int(call["num_frames"]),
                                float(call["fps"]))
        return source_conditioning(frames, size)

    def _sample_rate(self) -> int:
        """The sound's rate: the vocoder's output rate (LTX-2), else the audio VAE's (Stable
        Audio's is its `vae`)."""
        for name, key in (("vocoder", "output_sampling_rate"), ("audio_vae", "sample_rate"),
                          ("vae", "sampling_rate")):
            config = getattr(getattr(self.pipe, name, None), "config", None)
            rate = getattr(config, key, None) if config is not None else None
            if rate:
                return int(rate)
        raise ValueError(f"{type(self.pipe).__name__} makes sound at an unknown sample rate")

    def _generate_images(
        self,
        call: dict[str, Any],
        out_path: Path,
        progress: Callable[[int, int], None],
        cancelled: Callable[[], bool],
    ) -> dict[str, Any]:
        """`n` pictures as PNGs named `<out_path stem>-<index>.png` next to `out_path`."""
        total = int(call["num_inference_steps"])
        kwargs: dict[str, Any] = {
            "prompt": call["prompt"],
            "negative_prompt": call["negative_prompt"] or None,
            "num_images_per_prompt": int(call["n"]),
            "num_inference_steps": total,
            "guidance_scale": call["guidance_scale"],
            "generator": torch.Generator(device="cpu").manual_seed(int(call["seed"])),
            "output_type": "pil",
        }
        size = (int(call["width"]), int(call["height"]))
        pipe = self.pipe
        if call.get("image_path"):
            if self._img2img is None:
                self._img2img = diffusers.AutoPipelineForImage2Image.from_pipe(self.pipe)
                self._img2img.set_progress_bar_config(disable=True)
            pipe = self._img2img
            kwargs["image"] = load_rgb(str(call["image_path"]), size)
            kwargs["strength"] = float(call["strength"])
            # Image-to-image runs only the last `strength` share of the steps.
            total = max(1, int(total * float(call["strength"])))
        if not call.get("image_path") or "width" in inspect.signature(pipe.__call__).parameters:
            # FLUX's image-to-image takes the size too (else it renders at 1024x1024).
            kwargs["width"], kwargs["height"] = size

        on_step_end = step_callback(total, progress, cancelled)

        kwargs["callback_on_step_end"] = on_step_end
        takes = inspect.signature(pipe.__call__).parameters
        if "true_cfg_scale" in takes and not embeds_guidance(pipe):
            # Qwen-Image: classifier-free guidance is `true_cfg_scale` (its guidance_scale is
            # for guidance-distilled checkpoints only, such as FLUX.1-dev, which keeps it).
            kwargs["true_cfg_scale"] = kwargs.pop("guidance_scale")
        # FLUX.2 takes no negative prompt (the mapping refuses one): only what it takes.
        kwargs = {key: value for key, value in kwargs.items() if key in takes}
        adapter = call.get("reference_adapter")
        attached: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
        if adapter and adapter["weights"]:
            # image_reference: the same picture read by each IP-Adapter weight.
            kwargs["ip_adapter_image"] = [load_reference(str(call["reference_path"]),
                                                         REFERENCE_SIZE)] * len(adapter["weights"])
            attached = self._references().attached(pipe, adapter)
        try:
            with attached, torch.inference_mode():
                output = pipe(**kwargs)
        except BaseException:
            pipe.maybe_free_model_hooks()
            raise
        return {"images": _save_pngs(output.images, out_path), "width": size[0],
                "height": size[1]}

    def _references(self) -> ReferenceAdapters:
        if self._reference_adapters is None:
            self._reference_adapters = ReferenceAdapters(self.data_dir, self.device, self.dtype)
        return self._reference_adapters

    def _generate_audio(
        self,
        call: dict[str, Any],
        out_path: Path,
        progress: Callable[[int, int], None],
        cancelled: Callable[[], bool],
    ) -> dict[str, Any]:
        """One sound of `seconds`, written as `<out_path stem>.wav` and `.mp3` next to
        `out_path` (Kling's audio result gives both)."""
        total = int(call["num_inference_steps"])

        def on_step(step: int, timestep: Any, latents: Any) -> None:
            # StableAudioPipeline still takes the older `callback(step, t, latents)`.
            progress(min(step + 1, total), total)
            if cancelled():
                raise GenerationCancelled

        try:
            with torch.inference_mode():
                output = self.pipe(
                    prompt=call["prompt"], negative_prompt=call["negative_prompt"] or None,
                    audio_end_in_s=float(call["seconds"]), num_inference_steps=total,
                    guidance_scale=float(call["guidance_scale"]),
                    generator=torch.Generator(device="cpu").manual_seed(int(call["seed"])),
                    callback=on_step, callback_steps=1, output_type="np",
                )
        except BaseException:
            self.pipe.maybe_free_model_hooks()
            raise
        rate = self._sample_rate()
        waveform = output.audios[0]
        wav = write_wav(waveform, out_path.with_name(f"{out_path.stem}.wav"), rate)
        mp3 = write_mp3(waveform, out_path.with_name(f"{out_path.stem}.mp3"), rate)
        return {"wav": str(wav.path), "mp3": str(mp3.path), "samples": wav.samples,
                "sample_rate": rate, "channels": wav.channels}

    def _inpainting(self) -> Any:
        """The loaded pipeline as an inpainting one (Qwen-Image -> QwenImageInpaintPipeline,
        sharing its components), or itself when it already takes a mask."""
        if "mask_image" in self._call_params:
            return self.pipe
        if self._inpaint is None:
            self._inpaint = diffusers.AutoPipelineForInpainting.from_pipe(self.pipe)
            self._inpaint.set_progress_bar_config(disable=True)
        return self._inpaint

    def _generate_expand(
        self,
        call: dict[str, Any],
        out_path: Path,
        progress: Callable[[int, int], None],
        cancelled: Callable[[], bool],
    ) -> dict[str, Any]:
        """Outpainting: the image on a larger canvas, the new area masked and inpainted at the
        working size; each picture resized to the canvas with the original pixels pasted
        back. PNGs named like `_generate_images`'."""
        from PIL import Image

        size = (int(call["width"]), int(call["height"]))
        work = (int(call["work_width"]), int(call["work_height"]))
        with Image.open(str(call["image_path"])) as opened:
            original = opened.convert("RGB")
        box = (int(call["left"]), int(call["top"]))
        # The new area starts as the image's mean colour (strength 1 redraws it anyway).
        mean: Any = original.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
        canvas = Image.new("RGB", size, mean)
        canvas.paste(original, box)
        mask = Image.new("L", size, 255)  # white: paint here
        mask.paste(0, (*box, box[0] + original.width, box[1] + original.height))
        pipe = self._inpainting()
        total = int(call["num_inference_steps"])

        on_step_end = step_callback(total, progress, cancelled)

        kwargs: dict[str, Any] = {
            "prompt": call["prompt"],
            "negative_prompt": call["negative_prompt"] or None,
            "image": canvas.resize(work, Image.Resampling.LANCZOS),
            "mask_image": mask.resize(work, Image.Resampling.NEAREST),
            "width": work[0], "height": work[1], "strength": 1.0,
            "num_images_per_prompt": int(call["n"]),
            "num_inference_steps": total,
            "generator": torch.Generator(device="cpu").manual_seed(int(call["seed"])),
            "output_type": "pil",
            "callback_on_step_end": on_step_end,
        }
        guidance = ("true_cfg_scale" if "true_cfg_scale" in inspect.signature(
            pipe.__call__).parameters else "guidance_scale")
        kwargs[guidance] = float(call["guidance_scale"])
        try:
            with torch.inference_mode():
                output = pipe(**kwargs)
        except BaseException:
            pipe.maybe_free_model_hooks()
            raise
        pictures = []
        for image in output.images:
            picture = image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
            picture.paste(original, box)
            pictures.append(picture)
        return {"images": _save_pngs(pictures, out_path), "width": size[0], "height": size[1]}

    def _generate_edit(
        self,
        call: dict[str, Any],
        out_path: Path,
        progress: Callable[[int, int], None],
        cancelled: Callable[[], bool],
    ) -> dict[str, Any]:
        """Several input pictures and an instruction -> `n` pictures (QwenImageEditPlus);
        PNGs named like `_generate_images`'."""
        from PIL import Image

        from openkling.providers.diffusers.qwen_edit import set_input_area

        if "image" not in self._call_params or "true_cfg_scale" not in self._call_params:
            raise ValueError(f"{type(self.pipe).__name__} takes no input pictures "
                             "(images/multi-image2image and images/omni-image need "
                             "QwenImageEditPlusPipeline)")
        set_input_area(int(call["input_area"]))
        pictures = []
        for path in call["image_paths"]:
            with Image.open(str(path)) as opened:
                pictures.append(opened.convert("RGB"))
        total = int(call["num_inference_steps"])

        on_step_end = step_callback(total, progress, cancelled)

        size = (int(call["width"]), int(call["height"]))
        try:
            with torch.inference_mode():
                output = self.pipe(
                    image=pictures, prompt=call["prompt"],
                    negative_prompt=call["negative_prompt"] or None,
                    true_cfg_scale=float(call["guidance_scale"]), width=size[0],
                    height=size[1], num_images_per_prompt=int(call["n"]),
                    num_inference_steps=total,
                    generator=torch.Generator(device="cpu").manual_seed(int(call["seed"])),
                    output_type="pil", callback_on_step_end=on_step_end,
                )
        except BaseException:
            self.pipe.maybe_free_model_hooks()
            raise
        return {"images": _save_pngs(output.images, out_path), "width": size[0],
                "height": size[1]}

    @staticmethod
    def is_out_of_memory(exc: BaseException) -> bool:
        return isinstance(exc, torch.OutOfMemoryError)

    def release_memory(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
