"""SAM 2 video segmentation and Wan VACE inpainting for videos/multi-elements. Lives in the
model process only (imports torch and transformers).

`SegmentRunner` is the model process of the selection session (the API process asks it):
- `probe`: read a source video (MP4/MOV), write its normalized copy (H.264 MP4, even sides,
  at most `MAX_SIDE_NORMALIZED` px long, the source's frames and rate) and say its fps, frame
  count and size, and the source's size. It streams, frame by frame, and stops past
  `MAX_PROBE_FRAMES`: whatever a client sends, the process holds one frame at a time, and
  what later reads the copy whole holds a bounded amount;
- `segment`: the element the session's clicks mark, tracked over every frame (SAM 2 video:
  each frame's clicks are positive points of one object, propagated forward and backward from
  the first clicked frame), written as a `.npy` of booleans (frames, height, width);
- `preview`: the same masks as a video of the source with the element tinted, its first frame
  as the cover, and the masks themselves as a black-and-white video.

The processors of transformers (`Sam2VideoProcessor`) need torchvision, which the local
extra does not install: the frames are prepared here exactly as Sam2VideoVideoProcessor does
(resized to the model's square `image_size`, scaled to 0..1, normalized with ImageNet's mean
and deviation), the clicks scaled to that square, and the masks scaled back bilinearly and
thresholded at 0, as its `post_process_masks` does.

`generate_inpaint` is multi-elements' create, run in the Wan VACE model process: the masks
are computed as above (the SAM 2 model loaded once in that process too), the source and the
masks resampled to the model's frame rate and size, and the pipeline repaints the masked area.
"""

from __future__ import annotations

import importlib
import itertools
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch

from openkling.providers.diffusers.encode import write_mp4
from openkling.providers.diffusers.multi_elements import TINY_SEGMENTER

transformers: Any = importlib.import_module("transformers")
sam2_video: Any = importlib.import_module("transformers.models.sam2_video.modeling_sam2_video")

log = logging.getLogger("openkling.providers.diffusers.segment")

#: The pipeline name a segmenter's load config carries (no diffusers pipeline).
SEGMENTER_PIPELINE = "Sam2VideoModel"
TINY_SAM2_MODEL = TINY_SEGMENTER
#: ImageNet's mean and deviation, as Sam2VideoVideoProcessor normalizes.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
#: The element's object id: one element per session (see selection.py).
OBJECT_ID = 1
#: The tint of the element in the preview (RGB) and how much of it.
TINT, TINT_ALPHA = (255, 64, 64), 0.5
#: The most frames a probe reads (10 s at 60 fps, and a margin: every caller's limit is
#: within it), and the longest side of a normalized copy (what SAM 2 and Wan VACE read is
#: smaller still: a bigger copy would cost memory and give nothing).
MAX_PROBE_FRAMES = 10 * 60 + 60
MAX_SIDE_NORMALIZED = 1280


def build_tiny_sam2(seed: int = 0) -> Any:
    """A SAM 2 video model with tiny RANDOM weights (128 px square input; about 0.5 M
    parameters): its masks are noise, but every step of the real path runs."""
    hidden = 128  # above the memory width (64), as in every SAM 2: pointers split
    backbone = transformers.Sam2HieraDetConfig(
        hidden_size=16, image_size=[128, 128], blocks_per_stage=[1, 1, 2, 1],
        embed_dim_per_stage=[16, 32, 64, 128], num_attention_heads_per_stage=[1, 1, 1, 1],
        window_size_per_stage=[4, 4, 4, 2], global_attention_blocks=[3],
        window_positional_embedding_background_size=[2, 2])
    vision = transformers.Sam2VisionConfig(
        backbone_config=backbone, backbone_channel_list=[128, 64, 32, 16],
        backbone_feature_sizes=[[32, 32], [16, 16], [8, 8]], fpn_hidden_size=hidden)
    config = transformers.Sam2VideoConfig(
        vision_config=vision,
        prompt_encoder_config={"hidden_size": hidden, "image_size": 128, "patch_size": 16,
                               "mask_input_channels": 4},
        mask_decoder_config={"hidden_size": hidden, "mlp_dim": 64, "num_attention_heads": 2,
                             "iou_head_hidden_dim": hidden},
        image_size=128, memory_attention_hidden_size=hidden, memory_attention_num_layers=1,
        memory_attention_feed_forward_hidden_size=64, memory_attention_rope_feat_sizes=[8, 8],
        memory_encoder_hidden_size=hidden, memory_encoder_output_channels=64,
        mask_downsampler_embed_dim=hidden, memory_fuser_embed_dim=hidden,
        memory_fuser_intermediate_dim=64, memory_fuser_num_layers=1)
    torch.manual_seed(seed)
    return transformers.Sam2VideoModel(config).eval()


def ensure_tiny_sam2(folder: Path) -> Path:
    """Build and save the tiny SAM 2 into `folder` unless it is there (saved aside, renamed)."""
    if (folder / "config.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        build_tiny_sam2().save_pretrained(str(staging))
        (staging / "README.txt").write_text(
            f"{TINY_SAM2_MODEL}: a SAM 2 video model with tiny RANDOM weights, built by "
            "openkling for tests and demos. Its masks are noise.\n", encoding="utf-8")
        try:
            os.replace(staging, folder)
        except OSError:
            if not (folder / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def load_segmenter(model: str, data_dir: Path | None, device: torch.device) -> Any:
    """The SAM 2 video model: the tiny one built here (saved under `data_dir`, or only in
    memory without one), else a transformers checkpoint (hub id or folder, e.g.
    facebook/sam2.1-hiera-tiny), in float32 (SAM 2's masks are thresholded logits: full
    precision keeps the edges)."""
    if model == TINY_SAM2_MODEL and data_dir is None:
        return build_tiny_sam2().to(device)
    source = (str(ensure_tiny_sam2(data_dir / "models" / model))
              if model == TINY_SAM2_MODEL and data_dir is not None else model)
    log.info("loading the segmenter %s on %s", source, device)
    return transformers.Sam2VideoModel.from_pretrained(source).to(device).eval()


# --- Videos ---

def unreadable(exc: BaseException) -> ValueError:
    """What a client is told of a file FFmpeg cannot read: FFmpeg's own message names the
    file's path on this server, so it goes to the log only."""
    log.info("unreadable video: %s", exc)
    return ValueError("FFmpeg cannot decode it")


def _video_stream(container: Any) -> tuple[Any, float]:
    """The container's first video stream and its frame rate; ValueError without either."""
    if not container.streams.video:
        raise ValueError("the file has no video stream")
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate:
        raise ValueError("the video has no frame rate")
    return stream, float(rate)


def read_video(path: str) -> tuple[list[np.ndarray[Any, Any]], float]:
    """Every frame (RGB uint8) and the frame rate; ValueError when it is no video."""
    try:
        with av.open(path) as container:
            stream, rate = _video_stream(container)
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    except av.error.FFmpegError as exc:
        raise unreadable(exc) from None
    if not frames:
        raise ValueError("the video has no frames")
    return frames, rate


def read_resampled(path: str, count: int, fps: float) -> list[np.ndarray[Any, Any]]:
    """`count` RGB frames at `fps` from the video at `path`, as `resample(*read_video(path))`
    gives them (each the nearest earlier frame), decoded one at a time: only the frames kept
    are held, and decoding stops after the last one wanted."""
    try:
        with av.open(path) as container:
            stream, rate = _video_stream(container)
            wanted = [int(index * rate / fps + 1e-6) for index in range(count)]
            kept: dict[int, np.ndarray[Any, Any]] = {}
            last: np.ndarray[Any, Any] | None = None
            for index, frame in enumerate(container.decode(stream)):
                last = frame.to_ndarray(format="rgb24")
                if index in wanted:
                    kept[index] = last
                if index >= wanted[-1]:
                    break
    except av.error.FFmpegError as exc:
        raise unreadable(exc) from None
    if last is None:
        raise ValueError("the video has no frames")
    return [kept.get(index, last) for index in wanted]


def container_format(path: str) -> str:
    """The container's format names as FFmpeg says them (mp4 and mov share one demuxer)."""
    with av.open(path) as container:
        return str(container.format.name)


def write_video(frames: Iterable[np.ndarray[Any, Any]], path: Path, fps: float) -> int:
    """H.264 MP4 at `fps` (a fraction kept as such: 29.97 stays 30000/1001), encoded as the
    frames come (each of the first one's size); the number written. Nothing is left at
    `path` when the frames fail midway."""
    rate = Fraction(fps).limit_denominator(1001)
    partial = path.with_name(path.name + ".partial")
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise ValueError("the video has no frames")
    height, width = first.shape[:2]
    count = 0
    try:
        with av.open(str(partial), mode="w", format="mp4",
                     options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"crf": "18", "preset": "medium"}
            for rgb in itertools.chain([first], iterator):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
                count += 1
            for packet in stream.encode(None):
                container.mux(packet)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return count


# --- Segmentation ---

def track(model: Any, frames: list[np.ndarray[Any, Any]],
          clicks: list[dict[str, Any]], cancelled: Callable[[], bool]) -> np.ndarray[Any, Any]:
    """The element the clicks mark on every frame: booleans (frames, height, width).

    `clicks` are `{frame_index, points: [{x, y}, ...]}` with x, y in 0..1 of the frame (Kling's
    form); every point is a positive click on the one element. No clicks: no element."""
    height, width = frames[0].shape[:2]
    masks = np.zeros((len(frames), height, width), dtype=bool)
    if not clicks:
        return masks
    device = next(model.parameters()).device
    size = int(model.config.image_size)
    mean = torch.tensor(MEAN).view(3, 1, 1)
    std = torch.tensor(STD).view(3, 1, 1)
    pixels = []
    for rgb in frames:
        tensor = torch.from_numpy(rgb).permute(2, 0, 1).float().unsqueeze(0) / 255.0
        tensor = torch.nn.functional.interpolate(tensor, (size, size), mode="bilinear",
                                                 align_corners=False, antialias=True)[0]
        pixels.append((tensor - mean) / std)
    session = sam2_video.Sam2VideoInferenceSession(
        video=torch.stack(pixels), video_height=height, video_width=width,
        inference_device=device, video_storage_device=device, inference_state_device=device,
        dtype=torch.float32)
    obj = session.obj_id_to_idx(OBJECT_ID)
    by_frame: dict[int, list[list[float]]] = {}
    for click in clicks:
        by_frame.setdefault(int(click["frame_index"]), []).extend(
            [float(point["x"]), float(point["y"])] for point in click["points"])
    for frame_index, points in sorted(by_frame.items()):
        coords = torch.tensor([[[[x * size, y * size] for x, y in points]]],
                              dtype=torch.float32)
        labels = torch.ones((1, 1, len(points)), dtype=torch.int32)
        session.add_point_inputs(obj, frame_index, {"point_coords": coords,
                                                    "point_labels": labels})
        session.remove_mask_inputs(obj, frame_index)
    session.obj_with_new_inputs = [OBJECT_ID]
    first = min(by_frame)

    def keep(output: Any) -> None:
        if cancelled():
            from openkling.providers.diffusers.pipeline import GenerationCancelled

            raise GenerationCancelled
        logits = output.pred_masks.float().cpu()
        if logits.ndim == 3:
            logits = logits.unsqueeze(1)
        scaled = torch.nn.functional.interpolate(logits, (height, width), mode="bilinear",
                                                 align_corners=False)
        masks[int(output.frame_idx)] = (scaled[0, 0] > 0.0).numpy()

    with torch.inference_mode():
        for output in model.propagate_in_video_iterator(session, start_frame_idx=first):
            keep(output)
        if first > 0:
            for output in model.propagate_in_video_iterator(session, start_frame_idx=first,
                                                            reverse=True):
                keep(output)
    return masks


def overlay(frames: list[np.ndarray[Any, Any]],
            masks: np.ndarray[Any, Any]) -> list[np.ndarray[Any, Any]]:
    """The frames with the element tinted."""
    tint = np.array(TINT, dtype=np.float32)
    out = []
    for rgb, mask in zip(frames, masks, strict=True):
        picture = rgb.astype(np.float32)
        picture[mask] = picture[mask] * (1 - TINT_ALPHA) + tint * TINT_ALPHA
        out.append(picture.astype(np.uint8))
    return out


def mask_frames(masks: np.ndarray[Any, Any]) -> list[np.ndarray[Any, Any]]:
    """The masks as RGB frames: white where the element is."""
    return [np.repeat((mask.astype(np.uint8) * 255)[:, :, None], 3, axis=2) for mask in masks]


class SegmentRunner:
    """The selection session's model process: a SAM 2 video model (see the module doc),
    loaded on the first call that segments: a probe needs none (omni-video's video to edit
    is probed here too, on hosts that may never segment)."""

    def __init__(self, device: torch.device, config: dict[str, Any],
                 data_dir: Path | None) -> None:
        self.device = device
        self.config = config
        self.data_dir = data_dir
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = load_segmenter(str(self.config["model"]), self.data_dir, self.device)
        return self._model

    @classmethod
    def load(cls, config: dict[str, Any], data_dir: Path) -> SegmentRunner:
        from openkling.providers.diffusers.pipeline import cpu_threads, resolve_device

        importlib.import_module("transformers").utils.logging.disable_progress_bar()
        device = resolve_device(str(config["device"]))
        if device.type == "cpu":
            torch.set_num_threads(cpu_threads(config.get("cpu_threads")))
        return cls(device, config, data_dir)

    def describe(self) -> dict[str, Any]:
        return {"pipeline": SEGMENTER_PIPELINE, "device": str(self.device),
                "dtype": "float32", "model": self.config.get("model")}

    def generate(self, call: dict[str, Any], out_path: Path,
                 progress: Callable[[int, int], None],
                 cancelled: Callable[[], bool]) -> dict[str, Any]:
        kind = call.get("kind")
        if kind == "probe":
            return probe(call, out_path)
        frames, fps = read_video(str(call["video_path"]))
        masks = track(self.model, frames, list(call["clicks"]), cancelled)
        progress(1, 1)
        if kind == "segment":
            np.save(out_path, masks)
            return {"frames": len(frames), "path": str(out_path)}
        if kind == "preview":
            folder = out_path.parent
            write_video(overlay(frames, masks), folder / "video.mp4", fps)
            write_video(mask_frames(masks), folder / "tracking.mp4", fps)
            from PIL import Image

            Image.fromarray(overlay(frames[:1], masks[:1])[0]).save(folder / "cover.png")
            return {"video": str(folder / "video.mp4"), "cover": str(folder / "cover.png"),
                    "tracking": str(folder / "tracking.mp4"), "frames": len(frames)}
        raise ValueError(f"unknown segmenter call {kind!r}")

    @staticmethod
    def is_out_of_memory(exc: BaseException) -> bool:
        return isinstance(exc, torch.OutOfMemoryError)

    def release_memory(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def normalized_size(width: int, height: int) -> tuple[int, int]:
    """A normalized copy's size: even sides (H.264's 4:2:0), the longer one at most
    `MAX_SIDE_NORMALIZED`, the shape kept."""
    scale = min(1.0, MAX_SIDE_NORMALIZED / max(width, height))
    return (max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2))


def _normalized(frames: Iterator[Any], size: tuple[int, int],
                limit: int) -> Iterator[np.ndarray[Any, Any]]:
    """Each decoded frame as RGB at the normalized `size` (cropped to even sides, or scaled
    down), one at a time, at most `limit` of them (the caller sees whether more followed)."""
    width, height = size
    for index, frame in enumerate(frames):
        if index >= limit:
            return
        if (width, height) == (frame.width // 2 * 2, frame.height // 2 * 2):
            yield frame.to_ndarray(format="rgb24")[:height, :width]
        else:
            yield frame.to_ndarray(format="rgb24", width=width, height=height)


def probe(call: dict[str, Any], out_path: Path) -> dict[str, Any]:
    """The source's container, rate, frame count and size; its normalized copy at
    `out_path` (what the session segments and the create repaints), its size.

    The call may bound the work (`max_side`, `max_fps`, `max_aspect`, `max_seconds`): a
    source over a side, rate or shape limit is answered from its stream's header, unread,
    and decoding stops one frame past `max_seconds` (the answer's `frames` then says too
    long). Errors name no server path."""
    source = str(call["source_path"])
    try:
        formats = container_format(source)
        with av.open(source) as container:
            stream, rate = _video_stream(container)
            width, height = stream.codec_context.width, stream.codec_context.height
            header = {"formats": formats, "fps": rate, "source_width": width,
                      "source_height": height, "width": width, "height": height}
            if not width or not height:
                raise ValueError("the video has no frame size")
            if max(width, height) > int(call.get("max_side") or 1 << 30) or \
                    rate > float(call.get("max_fps") or math.inf) or \
                    max(width, height) / min(width, height) > float(call.get("max_aspect")
                                                                    or math.inf):
                return {**header, "frames": 0}  # refused by its header: nothing decoded
            seconds = call.get("max_seconds")
            limit = MAX_PROBE_FRAMES if seconds is None else \
                min(MAX_PROBE_FRAMES, math.floor(float(seconds) * rate) + 2)
            size = normalized_size(width, height)
            count = write_video(_normalized(container.decode(stream), size, limit), out_path,
                                rate)
    except av.error.FFmpegError as exc:
        return {"error": str(unreadable(exc))}
    except ValueError as exc:
        return {"error": str(exc)}
    return {**header, "frames": count, "width": size[0], "height": size[1]}


# --- The create: Wan VACE repaints the masked area ---

def resample(items: list[Any], source_fps: float, count: int, fps: float) -> list[Any]:
    """`count` items at `fps` from items at `source_fps`: the nearest earlier source frame of
    each output time."""
    last = len(items) - 1
    return [items[min(last, int(index * source_fps / fps + 1e-6))] for index in range(count)]


def generate_inpaint(runner: Any, call: dict[str, Any], out_path: Path,
                     progress: Callable[[int, int], None], cancelled: Callable[[], bool],
                     cancelled_error: type[BaseException]) -> dict[str, Any]:
    """multi-elements' create in the Wan VACE process (`runner` is its PipelineRunner): the
    session's element tracked by SAM 2, then repainted by the pipeline (see multi_elements.py
    for the mapping)."""
    from PIL import Image

    segmenter = getattr(runner, "segmenter", None)
    if segmenter is None or getattr(runner, "segmenter_id", None) != call["segmenter"]:
        segmenter = load_segmenter(str(call["segmenter"]), None, runner.device)
        runner.segmenter, runner.segmenter_id = segmenter, call["segmenter"]
    frames, fps = read_video(str(call["video_path"]))
    masks = track(segmenter, frames, list(call["clicks"]), cancelled)
    count, model_fps = int(call["num_frames"]), float(call["fps"])
    size = (int(call["width"]), int(call["height"]))
    video = [Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS)
             for rgb in resample(frames, fps, count, model_fps)]
    mask = [Image.fromarray(m.astype(np.uint8) * 255).resize(size, Image.Resampling.NEAREST)
            .convert("RGB") for m in resample(list(masks), fps, count, model_fps)]
    if "mask" not in runner._call_params:
        raise ValueError(f"{type(runner.pipe).__name__} takes no masks (videos/multi-elements "
                         "needs a Wan VACE model)")
    total = int(call["num_inference_steps"])

    def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> (
            dict[str, Any]):
        progress(min(step + 1, total), total)
        if cancelled():
            raise cancelled_error
        return {}

    kwargs: dict[str, Any] = {
        "prompt": call["prompt"], "negative_prompt": call["negative_prompt"],
        "video": video, "mask": mask, "width": size[0], "height": size[1],
        "num_frames": count, "num_inference_steps": total,
        "guidance_scale": float(call["guidance_scale"]),
        "generator": torch.Generator(device="cpu").manual_seed(int(call["seed"])),
        "output_type": "np", "callback_on_step_end": on_step_end,
        "max_sequence_length": int(call["max_sequence_length"]),
    }
    if call.get("reference_image_paths"):
        from openkling.providers.diffusers.pipeline import load_reference

        kwargs["reference_images"] = [load_reference(str(path), size)
                                      for path in call["reference_image_paths"]]
    try:
        with torch.inference_mode():
            output = runner.pipe(**kwargs)
    except BaseException:
        runner.pipe.maybe_free_model_hooks()
        raise
    encoded = write_mp4(output.frames[0], out_path, int(call["fps"]))
    return {"path": str(encoded.path), "frames": encoded.frames, "fps": encoded.fps,
            "width": encoded.width, "height": encoded.height}
