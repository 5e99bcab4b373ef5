"""The transformer cache hooks of diffusers on each tiny model, on the CPU, in one run.

    python benchmarks/cache_hooks.py --steps 10 --json cache_hooks.json

For each built-in tiny model (`tiny-random-wan`, `tiny-random-wan2.2-a14b`,
`tiny-random-ltx2`, `tiny-random-qwen-image`) and each hook, one render of the same seeded
call: wall seconds (pipe() only, best of --repeat), the ratio to the plain render, the share
of transformer block computations the hook skipped (each block's first attention projection
counted: 1 - calls with / calls without), and the PSNR of the output against the plain
render (how close it stays).

The hooks: none; the three the `cache` provider option offers, built by the provider's own
code (`openkling.providers.diffusers.cache_hooks.hook_config`) at their defaults
(first_block 0.05; taylorseer interval 5 after 3 steps, blocks skipped and the output
projection predicted; mag 0.06, with ratios from a calibration render of the same call
just before, as `cache_calibrate` gives them); and FasterCache (attention reuse every 2nd
step), which the provider does not offer, for comparison. A hook the provider refuses on a
model (`check_support`) is reported as refused, with the reason.

The models are random: the skip shares say what each hook's rule does on these activations,
not what it would skip on a trained model (a trained model's residuals change more smoothly,
so caches skip more). The wall-time ratio on a CPU is what a few-MB model shows; GPU numbers
come from benchmarks/device/run_gpu.sh.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

MODELS = ("tiny-random-wan", "tiny-random-wan2.2-a14b", "tiny-random-ltx2",
          "tiny-random-qwen-image")
HOOKS = ("none", "first_block", "taylorseer", "mag", "fastercache")


def mag_ratios(pipe: Any, call: dict[str, Any]) -> list[float]:
    """The magnitude ratios of one calibration render (what `cache_calibrate` logs)."""
    import logging

    from openkling.providers.diffusers import cache_hooks

    found: list[list[float]] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            match = cache_hooks._MAG_RESULTS.search(record.getMessage())
            if match:
                found.append([float(r) for r in match.group(1).strip("[]").split(",")])

    mag_log = logging.getLogger("diffusers.hooks.mag_cache")
    mag_log.setLevel(logging.INFO)
    handler = Catch()
    mag_log.addHandler(handler)
    try:
        config = {"cache": "mag", "cache_calibrate": True}
        for transformer in transformers_of(pipe):
            transformer.enable_cache(cache_hooks.hook_config(
                config, call["num_inference_steps"], transformer.dtype, transformer))
        render(pipe, call)
    finally:
        mag_log.removeHandler(handler)
        for transformer in transformers_of(pipe):
            transformer.disable_cache()
    return found[0]


def hook_config(name: str, pipe: Any, call: dict[str, Any], transformer: Any) -> Any:
    import diffusers

    from openkling.providers.diffusers import cache_hooks

    if name in ("first_block", "taylorseer", "mag"):
        config: dict[str, Any] = {"cache": name}
        if name == "mag":
            config["cache_mag_ratios"] = pipe._openkling_mag_ratios
        return cache_hooks.hook_config(config, call["num_inference_steps"], transformer.dtype,
                                       transformer)
    if name == "fastercache":
        return diffusers.FasterCacheConfig(
            spatial_attention_block_skip_range=2,
            spatial_attention_timestep_skip_range=(-1, 901),
            current_timestep_callback=lambda: int(pipe.current_timestep),
            is_guidance_distilled=True, tensor_format="BFCHW")
    raise ValueError(name)


def transformers_of(pipe: Any) -> list[Any]:
    return [t for t in (getattr(pipe, "transformer", None), getattr(pipe, "transformer_2", None))
            if t is not None]


def blocks_of(transformer: Any) -> list[Any]:
    for name in ("blocks", "transformer_blocks"):
        found = getattr(transformer, name, None)
        if found is not None:
            return list(found)
    raise ValueError(f"{type(transformer).__name__}: no transformer blocks found")


def psnr(a: Any, b: Any) -> float:
    import numpy as np

    mse = float(np.mean((np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
                        ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def render(pipe: Any, call: dict[str, Any]) -> tuple[Any, float]:
    import torch

    kwargs = {**call, "generator": torch.Generator("cpu").manual_seed(7)}
    started = time.perf_counter()
    with torch.inference_mode():
        output = pipe(**kwargs)
    frames = output.frames[0] if hasattr(output, "frames") else output.images
    return frames, time.perf_counter() - started


def bench_model(model: str, steps: int, repeat: int, data_dir: Path) -> dict[str, Any]:
    import diffusers
    import torch

    from openkling.providers.diffusers import cache_hooks
    from openkling.providers.diffusers.tiny import ensure_saved

    torch.set_num_threads(1)
    pipe = diffusers.DiffusionPipeline.from_pretrained(str(ensure_saved(data_dir / model, model)))
    pipe.set_progress_bar_config(disable=True)
    ltx = "LTX2" in type(pipe).__name__
    call: dict[str, Any] = {
        "prompt": "a fox in the snow", "negative_prompt": "", "num_inference_steps": steps,
        "guidance_scale": 1.0, "output_type": "np",
        "width": 64 if ltx else 80, "height": 32 if ltx else 48,
        "num_frames": 9, "max_sequence_length": 16,
    }
    if ltx:
        call["frame_rate"] = 8.0
    if "QwenImage" in type(pipe).__name__:  # an image: no frames; guidance off (no negative)
        call = {key: call[key] for key in ("prompt", "num_inference_steps", "output_type",
                                           "max_sequence_length")}
        call.update(width=64, height=64, true_cfg_scale=1.0)
    calls = {"n": 0}

    def count(*_: Any) -> None:
        calls["n"] += 1

    # Counted at each block's first attention projection: a hook that skips a block (or its
    # attention) returns before it, while the block's own forward hooks would still fire.
    for transformer in transformers_of(pipe):
        for block in blocks_of(transformer):
            attention = getattr(block, "attn1", None) or block.attn
            attention.to_q.register_forward_hook(count)
    rows: dict[str, Any] = {}
    plain_frames: Any = None
    for hook in HOOKS:
        try:
            if hook in ("first_block", "taylorseer", "mag"):
                cache_hooks.check_support(hook, transformers_of(pipe))
            if hook == "mag":
                pipe._openkling_mag_ratios = mag_ratios(pipe, call)
            if hook != "none":
                for transformer in transformers_of(pipe):
                    transformer.enable_cache(hook_config(hook, pipe, call, transformer))
            best = math.inf
            for _ in range(repeat):
                calls["n"] = 0
                frames, seconds = render(pipe, call)
                best = min(best, seconds)
            block_calls = calls["n"]
            if hook == "none":
                plain_frames, plain_calls, plain_s = frames, block_calls, best
            rows[hook] = {
                "seconds": round(best, 3), "ratio": round(best / plain_s, 3),
                "block_calls": block_calls,
                "skipped_share": round(1 - block_calls / plain_calls, 3),
                "psnr_db": round(psnr(frames, plain_frames), 1),
            }
        except Exception as exc:  # a hook this pipeline cannot take: say so, go on
            refused = isinstance(exc, ValueError) and str(exc).startswith("cache:")
            rows[hook] = {"error": ("refused by openkling: " if refused else "fails: ")
                          + f"{type(exc).__name__}: {str(exc)[:200]}"}
        finally:
            for transformer in transformers_of(pipe):
                if transformer.is_cache_enabled:
                    transformer.disable_cache()
        print(model, hook, rows[hook], flush=True)
    return {"pipeline": type(pipe).__name__, "steps": steps, "hooks": rows}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="openkling-cache-hooks-") as tmp:
        for model in args.models.split(","):
            results[model] = bench_model(model, args.steps, args.repeat, Path(tmp))
    print()
    print("| model | hook | seconds | ratio to plain | block calls skipped | PSNR vs plain |")
    print("|---|---|---|---|---|---|")
    for model, result in results.items():
        for hook, row in result["hooks"].items():
            if "error" in row:
                print(f"| {model} | {hook} | - | - | - | {row['error']} |")
            else:
                print(f"| {model} | {hook} | {row['seconds']:.2f} | {row['ratio']:.2f} | "
                      f"{row['skipped_share']:.0%} | {row['psnr_db']} dB |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return results


if __name__ == "__main__":
    main()
