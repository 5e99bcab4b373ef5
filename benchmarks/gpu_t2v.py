"""One text-to-video clip: openkling end to end versus a direct diffusers call, same run.

    # On a GPU (default: Wan 2.1 1.3B, one 5 s 480p clip, std preset):
    python benchmarks/gpu_t2v.py --json gpu_t2v.json
    # Anywhere, with the tiny random model on the CPU (noise; checks the harness and overhead):
    python benchmarks/gpu_t2v.py --model tiny-random-wan --device cpu

Rows, each timed --runs times after one untimed warm-up (model load, first-call costs):
- direct: `pipe(...)` in this process with the exact arguments openkling maps the request
  to (same size, frames, steps, guidance, seed), plus the same H.264 encode;
- openkling: `openkling serve` with the diffusers provider; POST /v1/videos/text2video, poll
  until `succeed` (20 Hz), then download the MP4 - the wall time a client sees;
- openkling + speed-ups: the same with --speedups (default: first-block cache, plus
  torch.compile on CUDA).
The direct pipeline is freed before any server starts, so they never share the device.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "src"))
from _common import free_port, python, start  # noqa: E402

from openkling.core.models import GenerationSpec  # noqa: E402
from openkling.providers.diffusers.mapping import pipeline_call  # noqa: E402
from openkling.providers.diffusers.options import parse_options  # noqa: E402

SEED = 1234
SPEEDUPS: dict[str, dict[str, Any]] = {
    "cache": {"cache": "first_block"},
    "compile": {"torch_compile": True},
    "offload": {"cpu_offload": "model"},
    "tiling": {"vae_tiling": True},
}


def provider_options(args: argparse.Namespace, extra: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {"model": args.model, "device": args.device, "seed": SEED}
    if args.steps is not None:
        options[f"{args.mode}_steps"] = args.steps
    options.update(extra)
    return options


def direct(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    """The same generation with diffusers called directly in this process."""
    import torch

    from openkling.providers.diffusers.encode import write_mp4
    from openkling.providers.diffusers.pipeline import PipelineRunner

    options = parse_options(provider_options(args, {}))
    spec = GenerationSpec(task_id="1", model_name="kling-v1", prompt=args.prompt,
                          negative_prompt=None, cfg_scale=0.5, mode=args.mode,
                          aspect_ratio=args.aspect_ratio, duration=args.duration)
    call = pipeline_call(spec, options)
    load_started = time.perf_counter()
    runner = PipelineRunner.load(options.load_config(), data_dir)
    load_s = time.perf_counter() - load_started
    pipe = runner.pipe
    kwargs = {
        "prompt": call.prompt, "negative_prompt": call.negative_prompt, "width": call.width,
        "height": call.height, "num_frames": call.num_frames,
        "num_inference_steps": call.num_inference_steps,
        "guidance_scale": call.guidance_scale, "max_sequence_length": call.max_sequence_length,
        "output_type": "np",
    }
    pipe_s: list[float] = []
    encode_s: list[float] = []
    for run in range(args.runs + 1):
        sync(torch)
        started = time.perf_counter()
        with torch.inference_mode():
            frames = pipe(**kwargs, generator=torch.Generator("cpu").manual_seed(SEED)).frames[0]
        sync(torch)
        generated = time.perf_counter()
        write_mp4(frames, data_dir / "direct.mp4", call.fps)
        if run:  # run 0 is the warm-up
            pipe_s.append(generated - started)
            encode_s.append(time.perf_counter() - generated)
    info = runner.describe()
    del runner, pipe
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return {
        "call": call.to_dict() | {"prompt": call.prompt[:40], "negative_prompt": "..."},
        "device": info["device"], "dtype": info["dtype"], "load_s": load_s,
        "pipe_s": pipe_s, "encode_s": encode_s,
        "total_s": [p + e for p, e in zip(pipe_s, encode_s, strict=True)],
    }


def sync(torch: Any) -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def through_openkling(args: argparse.Namespace, data_dir: Path,
                      extra: dict[str, Any]) -> dict[str, Any]:
    """Create -> succeed -> download through a real `openkling serve`, warm-up first."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKLING_")}
    env.update(
        OPENKLING_DATA_DIR=str(data_dir), OPENKLING_PROVIDER="diffusers",
        OPENKLING_POLL_INTERVAL="0.1", OPENKLING_LOG_LEVEL="warning",
        OPENKLING_RATE_LIMIT_PER_SECOND="1000", OPENKLING_RATE_LIMIT_BURST="1000",
        OPENKLING_LEASE_SECONDS="600",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")])),
    )
    for key, value in provider_options(args, extra).items():
        env[f"OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__{key.upper()}"] = str(value)
    out = subprocess.run([python(), "-m", "openkling.cli.main", "keys", "create", "--name",
                          "bench", "--json"], env=env, capture_output=True, check=True,
                         cwd=ROOT)
    headers = {"Authorization": f"Bearer {json.loads(out.stdout)['api_key']}"}
    server = start([python(), "-m", "openkling.cli.main", "serve", "--port", str(port)], env,
                   port, "/readyz")
    try:
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as client:
            times: list[float] = []
            for run in range(args.runs + 1):
                started = time.perf_counter()
                task = client.post("/v1/videos/text2video", json={
                    "model_name": "kling-v1", "prompt": args.prompt, "mode": args.mode,
                    "aspect_ratio": args.aspect_ratio, "duration": str(args.duration),
                }).json()["data"]
                while task["task_status"] not in ("succeed", "failed"):
                    time.sleep(0.05)
                    task = client.get(f"/v1/videos/text2video/{task['task_id']}").json()["data"]
                if task["task_status"] != "succeed":
                    raise SystemExit(f"task failed: {task['task_status_msg']}")
                video = task["task_result"]["videos"][0]
                body = client.get(video["url"]).content
                if run:
                    times.append(time.perf_counter() - started)
        return {"total_s": times, "bytes": len(body), "duration": video["duration"]}
    finally:
        server.stop()


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="Wan-AI/Wan2.1-T2V-1.3B-Diffusers")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--prompt", default="A red fox trots through fresh snow in a pine "
                        "forest at sunrise, cinematic, soft light")
    parser.add_argument("--aspect-ratio", default="16:9", choices=["16:9", "9:16", "1:1"])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--mode", default="std", choices=["std", "pro"])
    parser.add_argument("--steps", type=int, default=None, help="override the mode's steps")
    parser.add_argument("--runs", type=int, default=1, help="timed runs per row")
    parser.add_argument("--speedups", default="auto",
                        help="comma list of " + ", ".join(SPEEDUPS) + "; 'auto': cache "
                        "(+ compile on CUDA); 'none' skips the row")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args()

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="openkling-bench-"))
    print(f"model {args.model} on {args.device}; data in {data_dir}", flush=True)
    result: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    result["direct"] = direct(args, data_dir / "direct")
    print(f"direct: {result['direct']['call']}", flush=True)
    result["openkling"] = through_openkling(args, data_dir / "default", {})

    names = args.speedups
    if names == "auto":
        names = "cache,compile" if result["direct"]["device"].startswith("cuda") else "cache"
    extra: dict[str, Any] = {}
    if names != "none":
        for name in names.split(","):
            extra.update(SPEEDUPS[name.strip()])
        result["speedups"] = {"options": extra} | through_openkling(
            args, data_dir / "speedups", extra)

    base = median(result["direct"]["total_s"])
    rows = [
        ("direct diffusers: pipe()", median(result["direct"]["pipe_s"])),
        ("direct diffusers: pipe() + encode", base),
        ("openkling end to end", median(result["openkling"]["total_s"])),
    ]
    if "speedups" in result:
        rows.append((f"openkling + {names}", median(result["speedups"]["total_s"])))
    call = result["direct"]["call"]
    print(f"\n{call['width']}x{call['height']}, {call['num_frames']} frames, "
          f"{call['num_inference_steps']} steps, {result['direct']['device']} "
          f"{result['direct']['dtype']}, median of {args.runs} run(s) after a warm-up")
    print(f"{'variant':40} {'seconds':>10} {'vs direct+encode':>18}")
    for label, seconds in rows:
        print(f"{label:40} {seconds:10.3f} {seconds / base:17.2f}x")
    result["table"] = [{"variant": label, "seconds": s, "ratio": s / base} for label, s in rows]
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
