"""One request per locally served family beyond text2video/image2video/images, direct: the
family's own mapping (the functions the diffusers provider calls) and the model process's
`PipelineRunner.generate`, on a full-size architecture with RANDOM weights built on the device
(`--small`: the tiny test models on the CPU, the same code path in seconds).

    # GPU (benchmarks/device/run_gpu_families.sh runs each group in its own process):
    python benchmarks/gpu_families.py --groups vace --device cuda --json vace.json
    # CPU, tiny models, 1 step (what tests/integration/benchmarks runs):
    python benchmarks/gpu_families.py --small

Groups share one built pipeline (built once, freed before the next group):
- audio: audio/text-to-audio, 10 s of sound (Stable Audio Open 1.0 architecture);
- extend: videos/video-extend, a 5 s 832x480 16 fps source + 5 s (LTX-Video 0.9.5);
- vace: videos/multi-image2video (two reference images, 16:9, 5 s), videos/omni-video (a
  first frame and a reference image, 5 s) and videos/multi-elements (removal of a clicked
  element of a 5 s 832x480 source; SAM 2.1 hiera-tiny architecture, random, tracks it) on
  `random-wan2.1-vace-1.3b`;
- expand: images/editing/expand, a 1024x576 picture expanded by a quarter on each side
  (Qwen-Image 20B architecture, rendered at about 1024x1024);
- edit: images/multi-image2image (two subjects and a scene, 1:1) and images/omni-image (two
  images, 1:1), n=1 (Qwen-Image-Edit Plus 2509 architecture);
- reference: images/generations with image_reference=subject (a 1024x1024 picture, 1:1, n=1):
  SDXL base 1.0 with IP-Adapter Plus SDXL weights (both, subject and face) and the ViT-H
  image encoder, written to a folder as h94/IP-Adapter lays them out and read from it.
Each group runs a 1-step warm-up of its first row, then each row once at the steps asked
(--steps overrides every family's default; the published models' defaults are far higher for
the 20B Qwen-Image, so the shell script asks for fewer and says so). A row records seconds
per request (the runner's generate: pipe() and the file writes), steps, output size and
frames (or sound length), peak device memory. Every finished row rewrites --json, so a run
cut short keeps it. Not through openkling: these random builds are not served.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "src"))
from gpu_t2v import PROMPT, SEED, Device, fmt  # noqa: E402

#: images/generations' row with a subject reference (its other rows are gpu_t2v.py's).
REFERENCE_ROW = "images/generations (image_reference)"
#: Group -> its rows (families) in the order they run.
GROUPS: dict[str, tuple[str, ...]] = {
    "audio": ("audio/text-to-audio",),
    "extend": ("videos/video-extend",),
    "vace": ("videos/multi-image2video", "videos/omni-video", "videos/multi-elements"),
    "expand": ("images/editing/expand",),
    "edit": ("images/multi-image2image", "images/omni-image"),
    "reference": (REFERENCE_ROW,),
}
#: What each group's full-size build is (the published checkpoint it mirrors).
MODELS: dict[str, str] = {
    "audio": "Stable Audio Open 1.0",
    "extend": "LTX-Video 0.9.5 (LTXConditionPipeline)",
    "vace": "random-wan2.1-vace-1.3b (+ SAM 2.1 hiera-tiny)",
    "expand": "Qwen-Image (QwenImageInpaintPipeline)",
    "edit": "Qwen-Image-Edit Plus 2509",
    "reference": "SDXL base 1.0 + IP-Adapter Plus SDXL (ViT-H)",
}
#: The source videos' frame rate and frames: 5 s, as Wan 2.1 makes them.
SOURCE_FPS, SOURCE_FRAMES = 16, 81
#: Small (CPU) runs: the VACE families at 4 fps (5 s is 21 frames), as the tiny tests do.
SMALL_VACE = {"fps": 4}


def build_group(group: str, small: bool, device: Any, dtype: Any) -> Any:
    """The group's pipeline: the tiny test model with --small, else the full-size random one."""
    from openkling.providers.diffusers import random_models as rm
    from openkling.providers.diffusers import tiny

    if small:
        return {"audio": tiny.build_stable_audio_pipeline,
                "extend": tiny.build_ltx_condition_pipeline,
                "vace": tiny.build_vace_pipeline,
                "expand": tiny.build_qwen_image_pipeline,
                "edit": tiny.build_qwen_image_edit_plus_pipeline,
                "reference": tiny.build_image_pipeline}[group](SEED)
    if group == "reference":
        return rm.build_random_sdxl(rm.SDXL_BASE_1_0, device, dtype, SEED)
    if group == "audio":
        return rm.build_random_stable_audio(device, dtype, SEED)
    if group == "extend":
        return rm.build_random_ltx_video(device, dtype, SEED)
    if group == "vace":
        return rm.build_random_wan(rm.WAN21_VACE_1_3B, device, dtype, SEED)
    return build_random_qwen(group == "edit", device, dtype)


def build_random_qwen(edit: bool, device: Any, dtype: Any) -> Any:
    """Qwen-Image (expand) or Qwen-Image-Edit Plus: the published transformer, Qwen2.5-VL-7B
    and VAE (random_models' parts) with the byte-level tokenizer; the encoder's vision token
    ids are set to that tokenizer's, as the tiny edit model's are."""
    import diffusers

    from openkling.providers.diffusers.qwen_edit import VISION_TOKENS, ImageQwen2VLProcessor
    from openkling.providers.diffusers.random_models import build_qwen_image_edit_plus_parts
    from openkling.providers.diffusers.tiny import build_tokenizer, transformers

    parts = build_qwen_image_edit_plus_parts(device, dtype, SEED)
    tokenizer = build_tokenizer()
    scheduler = diffusers.FlowMatchEulerDiscreteScheduler()
    if not edit:
        return diffusers.QwenImagePipeline(scheduler=scheduler, tokenizer=tokenizer, **parts)
    tokenizer.add_special_tokens({"additional_special_tokens": list(VISION_TOKENS)})
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in VISION_TOKENS}
    config = parts["text_encoder"].config
    config.image_token_id, config.video_token_id = ids["<|image_pad|>"], ids["<|video_pad|>"]
    config.vision_start_token_id = ids["<|vision_start|>"]
    config.vision_end_token_id = ids["<|vision_end|>"]
    processor = ImageQwen2VLProcessor(image_processor=transformers.Qwen2VLImageProcessor(),
                                      tokenizer=tokenizer)
    return diffusers.QwenImageEditPlusPipeline(scheduler=scheduler, tokenizer=tokenizer,
                                               processor=processor, **parts)


class Inputs:
    """The stored inputs a request of each family brings: pictures and source videos."""

    def __init__(self, folder: Path, small: bool) -> None:
        import numpy as np
        from PIL import Image

        from openkling.providers.diffusers.encode import write_mp4

        folder.mkdir(parents=True, exist_ok=True)
        #: Where the reference group's full-size random IP-Adapter is written.
        self.adapter = folder.parent / "random-ip-adapter"
        self.size = (80, 48) if small else (832, 480)
        self.pictures: list[str] = []
        for index, (size, colour) in enumerate([((1024, 576), (200, 60, 40)),
                                                ((768, 1024), (40, 160, 60)),
                                                ((1024, 1024), (50, 70, 200))]):
            path = folder / f"picture-{index}.png"
            Image.new("RGB", size, colour).save(path)
            self.pictures.append(str(path))
        self.wide = (1024, 576)
        # Smooth moving gradients, as a generated clip (H.264 keeps them nearly exactly).
        width, height = self.size
        y, x = np.mgrid[0:height, 0:width]
        self.fps, self.frames = (SMALL_VACE["fps"], 21) if small else (SOURCE_FPS,
                                                                       SOURCE_FRAMES)
        frames = np.stack([np.stack([(x * 2 + i) % 256, (y * 3 + i) % 256, (x + y) % 256], -1)
                           for i in range(self.frames)]).astype(np.uint8)
        self.video = str(write_mp4(frames, folder / "source.mp4", self.fps).path)


def family_call(family: str, small: bool, steps: int | None, inputs: Inputs) -> dict[str, Any]:
    """The pipeline call openkling's mapping of `family` makes of one Kling request (the
    provider's own functions; `steps` replaces the family's default step count)."""
    from openkling.providers.diffusers import families as fam
    from openkling.providers.diffusers.extend import extend_call, extend_options
    from openkling.providers.diffusers.multi_elements import (
        multi_elements_call,
        multi_elements_options,
    )
    from openkling.providers.diffusers.omni_image import omni_image_call, omni_image_options
    from openkling.providers.diffusers.omni_video import omni_video_call, omni_video_options

    def opts(name: str) -> dict[str, Any]:
        raw: dict[str, Any] = dict(SMALL_VACE) if small and family.startswith("videos/") \
            and family != "videos/video-extend" else {}
        if steps is not None:
            raw[name] = steps
        return raw

    pictures = inputs.pictures
    if family == "audio/text-to-audio":
        return fam.text_to_audio_call({"prompt": "rain on a tin roof", "duration": 10},
                                      seed=SEED, options=fam.audio_options(opts("steps"),
                                                                           tiny=small)).to_dict()
    if family == "videos/video-extend":
        request = {"video_id": "v", "prompt": PROMPT, "input_videos": {"video_id": {
            "video_id": "v", "task_id": "1", "duration": (inputs.frames) / inputs.fps,
            "key": "videos/1/v.mp4"}}}
        return extend_call(request, video_path=inputs.video, seed=SEED,
                           options=extend_options(opts("std_steps"), tiny=small)).to_dict()
    if family == "videos/multi-image2video":
        return fam.multi_image2video_call(
            {"prompt": PROMPT, "aspect_ratio": "16:9", "duration": 5, "mode": "std"},
            reference_paths=pictures[:2], seed=SEED,
            options=fam.multi_image_options(opts("std_steps"), tiny=small)).to_dict()
    if family == "videos/omni-video":
        return omni_video_call(
            {"prompt": PROMPT, "duration": 5, "image_list": [{"type": "first_frame"}, {}]},
            images=[(pictures[0], inputs.wide), (pictures[1], (768, 1024))], seed=SEED,
            options=omni_video_options(opts("std_steps"), tiny=small)).to_dict()
    if family == "videos/multi-elements":
        width, height = inputs.size
        selection = {"session_id": "1", "fps": float(inputs.fps), "total_frame": inputs.frames,
                     "width": width, "height": height, "video_key": "selections/1/video.mp4",
                     "clicks": [{"frame_index": 0, "points": [{"x": 0.5, "y": 0.5}]}]}
        return multi_elements_call(
            {"session_id": "1", "edit_mode": "removal", "prompt": "an empty street",
             "duration": 5, "selection": selection},
            reference_paths=[], video_path=inputs.video, seed=SEED,
            options=multi_elements_options(opts("std_steps"), tiny=small)).to_dict()
    if family == "images/editing/expand":
        ratios = {f"{side}_expansion_ratio": 0.25 for side in ("up", "down", "left", "right")}
        return fam.expand_call({**ratios, "prompt": PROMPT, "n": 1}, image_size=inputs.wide,
                               image_path=pictures[0], seed=SEED,
                               options=fam.expand_options(opts("steps"), tiny=small)).to_dict()
    if family == "images/multi-image2image":
        return fam.multi_image2image_call(
            {"prompt": "at a picnic", "n": 1, "aspect_ratio": "1:1"},
            subject_paths=pictures[:2], scene_path=pictures[2], style_path=None, seed=SEED,
            options=fam.multi_image2image_options(opts("steps"), tiny=small)).to_dict()
    if family == "images/omni-image":
        return omni_image_call(
            {"prompt": "<<<image_1>>> beside <<<image_2>>> in snow", "n": 1,
             "aspect_ratio": "1:1"},
            image_paths=pictures[:2], first_size=inputs.wide, seed=SEED,
            options=omni_image_options(opts("steps"), tiny=small)).to_dict()
    if family == REFERENCE_ROW:
        adapter = fam.TINY_REFERENCE_ADAPTER if small else str(inputs.adapter)
        options = fam.image_options({**opts("steps"), "reference_adapter": adapter},
                                    tiny=small)
        return fam.images_call(
            prompt=PROMPT, negative_prompt=None, aspect_ratio="1:1", resolution="1k", n=1,
            image_path=pictures[2], image_fidelity=0.5, image_reference="subject",
            human_fidelity=0.45, seed=SEED, options=options).to_dict()
    raise SystemExit(f"unknown family {family!r}")


def prepare_reference(runner: Any, group: str, small: bool, inputs: Inputs,
                      data_dir: Path) -> None:
    """The reference group's adapter: the tiny one is built where the runner looks for it;
    the full-size one (random, at h94/IP-Adapter's SDXL Plus shapes) is written once."""
    if group != "reference":
        return
    runner.data_dir = data_dir
    if small or (inputs.adapter / "models").is_dir():
        return
    from openkling.providers.diffusers import random_models as rm
    from openkling.providers.diffusers.families import ImageOptions

    weights = (ImageOptions().subject_weights, ImageOptions().face_weights)
    rm.save_ip_adapter(inputs.adapter, runner.pipe.unet, rm.IP_ADAPTER_PLUS_SDXL, weights, SEED)


def prepare_segmenter(runner: Any, call: dict[str, Any], small: bool) -> None:
    """multi-elements' SAM 2 in the runner as generate_inpaint keeps it after its first load:
    with --small the tiny one it builds itself; else the default checkpoint's architecture
    (facebook/sam2.1-hiera-tiny: transformers' Sam2VideoConfig defaults) with random weights,
    since the hub is out of reach."""
    if small or call.get("segmenter") is None:
        return
    import torch
    import transformers

    torch.manual_seed(SEED)
    model = transformers.Sam2VideoModel(transformers.Sam2VideoConfig())
    runner.segmenter, runner.segmenter_id = model.to(runner.device).eval(), call["segmenter"]


def row_of(family: str, call: dict[str, Any], out: dict[str, Any], seconds: float,
           peak: float | None) -> dict[str, Any]:
    """What a row records, from the call and the runner's result."""
    row: dict[str, Any] = {"seconds": seconds, "peak_gib": peak,
                           "steps": int(call["num_inference_steps"])}
    if "samples" in out:
        row.update(sound_s=out["samples"] / out["sample_rate"], sample_rate=out["sample_rate"],
                   channels=out["channels"])
    else:
        row.update(width=out["width"], height=out["height"], frames=out.get("frames"),
                   images=len(out.get("images", [])) or None)
    return row


def run_group(group: str, args: argparse.Namespace, data_dir: Path,
              report: Callable[[], None], rows: dict[str, Any]) -> None:
    """Build the group's pipeline, warm it up on its first row, time each row; freed after."""
    import torch

    from openkling.providers.diffusers.pipeline import (
        PipelineRunner,
        resolve_device,
        resolve_dtype,
    )

    device = Device(torch)
    inputs = Inputs(data_dir / "inputs", args.small)
    runner: Any = None
    try:
        target = resolve_device(args.device)
        dtype = resolve_dtype("auto", target)
        started = time.perf_counter()
        pipe = build_group(group, args.small, target, dtype)
        pipe.set_progress_bar_config(disable=True)
        runner = PipelineRunner(pipe.to(target), target, dtype, {})
        del pipe
        prepare_reference(runner, group, args.small, inputs, data_dir)
        build_s = time.perf_counter() - started
        first = family_call(GROUPS[group][0], args.small, 1, inputs)
        prepare_segmenter(runner, first, args.small)
        runner.generate(first, data_dir / f"{group}-warm.mp4", lambda *_: None, lambda: False)
    except Exception as exc:  # a group failing must not lose the others
        error = f"{type(exc).__name__}: {exc}"[:300]
        for family in GROUPS[group]:
            rows[family] = {"error": f"build/warm-up: {error}", "group": group}
        report()
        return
    for family in GROUPS[group]:
        try:
            call = family_call(family, args.small, args.steps, inputs)
            prepare_segmenter(runner, call, args.small)
            device.reset_peak()
            device.sync()
            started = time.perf_counter()
            out = runner.generate(call, data_dir / f"{family.replace('/', '-')}.mp4",
                                  lambda *_: None, lambda: False)
            device.sync()
            row = row_of(family, call, out, time.perf_counter() - started, device.peak_gib())
            row.update(group=group, build_s=build_s, dtype=str(dtype),
                       model=f"tiny test model ({MODELS[group]})" if args.small
                       else MODELS[group])
        except Exception as exc:  # one family failing must not lose the others
            row = {"error": f"{type(exc).__name__}: {exc}"[:300], "group": group}
        rows[family] = row
        print(f"{family}: {row}", flush=True)
        report()
    del runner
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def table(rows: dict[str, Any]) -> str:
    """The rows as a markdown table (what docs/benchmarks.md takes)."""
    lines = ["| family | model (random weights) | output | steps | s / request | peak GiB "
             "| build s |", "|---|---|---|---:|---:|---:|---:|"]
    for family, row in rows.items():
        if "error" in row:
            lines.append(f"| {family} | {MODELS.get(row.get('group', ''), '-')} | "
                         f"{row['error']} | | | | |")
            continue
        if "sound_s" in row:
            output = f"{row['sound_s']:.2f} s sound, {row['sample_rate']} Hz"
        elif row.get("frames"):
            output = f"{row['width']}x{row['height']}, {row['frames']} frames"
        else:
            output = f"{row['width']}x{row['height']}, {row['images']} picture(s)"
        lines.append(f"| {family} | {row['model']} | {output} | {row['steps']} | "
                     f"{row['seconds']:.2f} | {fmt(row['peak_gib'])} | {row['build_s']:.1f} |")
    return "\n".join(lines)


def merged_table(paths: list[Path]) -> tuple[dict[str, Any], str]:
    """Every row of several --json files (one per group process), and their table."""
    rows: dict[str, Any] = {}
    for path in paths:
        try:
            rows.update(json.loads(path.read_text())["families"])
        except (OSError, ValueError, KeyError) as exc:  # a group cut off before its first row
            print(f"{path}: no rows ({type(exc).__name__})", flush=True)
    return rows, table(rows)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", default=",".join(GROUPS),
                        help="comma list of " + ", ".join(GROUPS))
    parser.add_argument("--small", action="store_true",
                        help="the tiny test models on the CPU, 1 step")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=None,
                        help="steps of every row (default: each family's own default)")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    parser.add_argument("--table", type=Path, nargs="+", default=None,
                        help="only print the markdown table of these --json files' rows")
    args = parser.parse_args(argv)
    if args.table:
        rows, text = merged_table(args.table)
        print(text, flush=True)
        return {"families": rows}
    if args.small:
        args.device = "cpu"
        args.steps = args.steps or 1
    groups = [g.strip() for g in args.groups.split(",")]
    if unknown := set(groups) - set(GROUPS):
        raise SystemExit(f"unknown groups {sorted(unknown)}: use {', '.join(GROUPS)}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="openkling-bench-families-"))
    result: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()},
                              "families": {}}

    def report() -> None:
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))

    print(f"groups {', '.join(groups)} on {args.device}; data in {data_dir}", flush=True)
    for group in groups:
        run_group(group, args, data_dir / group, report, result["families"])
    report()
    print(table(result["families"]), flush=True)
    return result


if __name__ == "__main__":
    main()
