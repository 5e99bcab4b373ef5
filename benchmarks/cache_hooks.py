"""The transformer cache hooks of diffusers on each tiny model, on the CPU, in one run.

    python benchmarks/cache_hooks.py --steps 10 --json cache_hooks.json

For each built-in tiny model (`tiny-random-wan`, `tiny-random-wan2.2-a14b`,
`tiny-random-ltx2`) and each hook (none; first-block cache, threshold 0.05; TaylorSeer,
interval 2 after step 3; FasterCache, attention reuse every 2nd step), one render of the same
seeded call: wall seconds (pipe() only, best of --repeat), the ratio to the plain render, the
share of transformer block computations the hook skipped (each block's first attention
projection counted: 1 - calls with / calls without), and the PSNR of the frames against
the plain render (how close the output stays). MagCache is left out: it needs magnitude
ratios calibrated on real weights, which random weights cannot give.

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

MODELS = ("tiny-random-wan", "tiny-random-wan2.2-a14b", "tiny-random-ltx2")
HOOKS = ("none", "first_block", "taylorseer", "fastercache")


def hook_config(name: str, pipe: Any) -> Any:
    import diffusers

    if name == "first_block":
        return diffusers.FirstBlockCacheConfig(threshold=0.05)
    if name == "taylorseer":
        return diffusers.TaylorSeerCacheConfig(cache_interval=2, disable_cache_before_step=3,
                                               taylor_factors_dtype=None)
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
        frames = pipe(**kwargs).frames[0]
    return frames, time.perf_counter() - started


def bench_model(model: str, steps: int, repeat: int, data_dir: Path) -> dict[str, Any]:
    import diffusers
    import torch

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
    calls = {"n": 0}

    def count(*_: Any) -> None:
        calls["n"] += 1

    # Counted at each block's first attention projection: a hook that skips a block (or its
    # attention) returns before it, while the block's own forward hooks would still fire.
    for transformer in transformers_of(pipe):
        for block in blocks_of(transformer):
            block.attn1.to_q.register_forward_hook(count)
    rows: dict[str, Any] = {}
    plain_frames: Any = None
    for hook in HOOKS:
        try:
            if hook != "none":
                for transformer in transformers_of(pipe):
                    transformer.enable_cache(hook_config(hook, pipe))
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
            rows[hook] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
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
