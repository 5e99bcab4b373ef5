"""Text-to-video on one device: diffusers called directly versus openkling end to end, and
each speed-up option as a ratio to plain, in the same run.

    # GPU, full-size Wan 2.1 T2V 1.3B with random weights (no model hub needed):
    python benchmarks/gpu_t2v.py --model random-wan2.1-1.3b --json gpu_t2v.json
    # CPU, the same code path at a small size (what tests/benchmarks runs):
    python benchmarks/gpu_t2v.py --small
    # Only the image2video and image rows, at 10 and 30 steps:
    python benchmarks/gpu_t2v.py --families i2v,images --i2v-steps 10 --image-steps 30

The clip is Kling's 5 s 16:9 request, which openkling maps to 832x480, 81 frames at 16 fps
(the model's native 480p). Sections:
1. direct: `pipe(...)` in this process with the exact arguments openkling maps the request
   to, plus the same H.264 encode, for each --steps count (after one 2-step warm-up);
2. speed-ups (direct, at --speedup-steps): plain, then each --options entry, then all of them
   together, each after a 2-step warm-up at the same frame size (torch.compile compiles there);
   seconds, ratio to plain (target <= 0.5 with all on) and peak device memory;
3. openkling: a real `openkling serve` with the diffusers provider; POST text2video, poll
   every 50 ms until `succeed`, download the MP4 - the wall time a client sees. One server:
   model routes `bench-s<N>` set std_steps=N, so every step count shares one warm model
   process. Overhead = openkling / direct(pipe + encode) - 1 (target <= 5 %).
4. families (--families i2v,images; before the sections above): the local image2video
   default (Wan 2.2 TI2V 5B, `WanImageToVideoPipeline`, a 16:9 first frame -> 1280x704,
   121 frames at 24 fps) and images default (SDXL base 1.0, 1024x1024, n=1), each built at
   its published size with random weights (`--small`: the same classes scaled down) and run
   through the runner's own generate (pipe() then the MP4/PNG write) after a 2-step warm-up,
   at --i2v-steps / --image-steps; seconds and peak device memory. Direct only: the
   openkling server cannot load these random builds, so there is no end-to-end column.
The direct pipeline is freed before the server starts, so they never share the device.
Every finished row is printed at once (and --json rewritten), so a run cut short keeps them.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "src"))
from _common import free_port, python, start  # noqa: E402

from openkling.core.models import GenerationSpec  # noqa: E402
from openkling.providers.diffusers.mapping import pipeline_call  # noqa: E402
from openkling.providers.diffusers.model_options import parse_options  # noqa: E402

SEED = 1234
#: What a torch.compile warm-up may take on top of a row (for --budget-s).
COMPILE_ALLOWANCE_S = 150.0
STARTED = time.monotonic()
WARMUP_STEPS = 2
PROMPT = "A red fox trots through fresh snow in a pine forest at sunrise, cinematic, soft light"

#: Speed-up options, applied to a loaded pipeline the way the runner applies the provider
#: options of the same name (cache, attention_backend, torch_compile).
OPTIONS: dict[str, str] = {
    "cache": "first-block cache (threshold 0.05)",
    "cudnn": "attention backend _native_cudnn (bf16)",
    "flash": "attention backend _native_flash (bf16)",
    "compile": "torch.compile of the transformer",
}


def elapsed() -> float:
    return time.monotonic() - STARTED


def experts(pipe: Any) -> list[Any]:
    """The transformer, and Wan 2.2 A14B's second expert where there is one."""
    return [t for t in (pipe.transformer, getattr(pipe, "transformer_2", None)) if t is not None]


def apply_option(pipe: Any, name: str) -> None:
    import diffusers

    for transformer in experts(pipe):
        if name == "cache":
            transformer.enable_cache(diffusers.FirstBlockCacheConfig(threshold=0.05))
        elif name in ("cudnn", "flash"):
            transformer.set_attention_backend(f"_native_{name}")
        elif name == "compile":
            transformer.compile()
        else:
            raise SystemExit(f"unknown option {name!r}: use {', '.join(OPTIONS)}")


def reset_options(pipe: Any) -> None:
    """Back to plain, except torch.compile (which is why compile rows come last)."""
    for transformer in experts(pipe):
        if getattr(transformer, "is_cache_enabled", False):
            transformer.disable_cache()
        transformer.set_attention_backend("native")


class Device:
    """Synchronise and read peak memory on CUDA; no-ops on the CPU."""

    def __init__(self, torch: Any) -> None:
        self.torch = torch
        self.cuda = torch.cuda.is_available()

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()

    def reset_peak(self) -> None:
        if self.cuda:
            self.torch.cuda.reset_peak_memory_stats()

    def peak_gib(self) -> float | None:
        return self.torch.cuda.max_memory_allocated() / 2**30 if self.cuda else None


class DeviceSampler:
    """Peak device memory in use by all processes (the model process is another process)."""

    def __init__(self, torch: Any) -> None:
        self.torch = torch
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            free, total = self.torch.cuda.mem_get_info()
            self.peak = max(self.peak, total - free)

    def __enter__(self) -> DeviceSampler:
        if self.torch.cuda.is_available():
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def peak_gib(self) -> float | None:
        return self.peak / 2**30 if self.peak else None


def mapped_call(args: argparse.Namespace, steps: int) -> dict[str, Any]:
    """What openkling maps the benchmark's Kling request to, with `steps` std steps."""
    options = parse_options(provider_options(args) | {"std_steps": steps})
    spec = GenerationSpec(task_id="1", model_name="kling-v1", prompt=args.prompt,
                          negative_prompt=None, cfg_scale=0.5, mode="std",
                          aspect_ratio="16:9", duration=args.duration)
    return pipeline_call(spec, options).to_dict()


def provider_options(args: argparse.Namespace) -> dict[str, Any]:
    """The model, device and seed, then each --set KEY=VALUE (parsed as the environment's
    strings are)."""
    extra = dict(item.split("=", 1) for item in args.set)
    return {"model": args.model, "device": args.device, "seed": SEED, **extra}


def timed_call(runner: Any, device: Device, call: dict[str, Any], out: Path) -> dict[str, Any]:
    """One generation through the runner's own generate (pipe() then encode), timed apart."""

    import torch

    from openkling.providers.diffusers.encode import write_mp4
    from openkling.providers.diffusers.pipeline import set_guider_scale

    kwargs = {
        "prompt": call["prompt"], "negative_prompt": call["negative_prompt"],
        "width": call["width"], "height": call["height"], "num_frames": call["num_frames"],
        "num_inference_steps": call["num_inference_steps"],
        "guidance_scale": call["guidance_scale"],
        "max_sequence_length": call["max_sequence_length"], "output_type": "np",
        "generator": torch.Generator("cpu").manual_seed(SEED),
    }
    # HunyuanVideo 1.5 takes neither guidance_scale (its guider has it) nor
    # max_sequence_length: the arguments its pipeline takes, as the runner passes them.
    accepted = inspect.signature(runner.pipe.__call__).parameters
    if "frame_rate" in accepted:
        kwargs["frame_rate"] = float(call["fps"])  # LTX-2 conditions on it
    if "guidance_scale" not in accepted and hasattr(runner.pipe, "guider"):
        set_guider_scale(runner.pipe, float(call["guidance_scale"]))
    kwargs = {key: value for key, value in kwargs.items() if key in accepted}
    device.reset_peak()
    device.sync()
    started = time.perf_counter()
    with torch.inference_mode():
        output = runner.pipe(**kwargs)
    device.sync()
    generated = time.perf_counter()
    # LTX-2's soundtrack goes into the MP4 as openkling's generate puts it (sound "on").
    audio = getattr(output, "audio", None)
    encoded = write_mp4(output.frames[0], out, int(call["fps"]),
                        audio=None if audio is None else audio[0],
                        sample_rate=0 if audio is None else runner._sample_rate())
    return {"pipe_s": generated - started, "encode_s": time.perf_counter() - generated,
            "total_s": time.perf_counter() - started, "peak_gib": device.peak_gib(),
            "frames": encoded.frames, "audio_samples": encoded.audio_samples,
            "sample_rate": encoded.sample_rate}


def direct(args: argparse.Namespace, data_dir: Path, report: Callable[[], None],
           result: dict[str, Any]) -> None:
    """Sections 1 and 2, with one pipeline in this process."""
    import torch

    from openkling.providers.diffusers.pipeline import PipelineRunner

    device = Device(torch)
    data_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    runner = PipelineRunner.load(parse_options(provider_options(args)).load_config(), data_dir)
    result["load_s"] = time.perf_counter() - started
    result["runner"] = runner.describe()
    print(f"loaded {result['runner']} in {result['load_s']:.1f} s", flush=True)
    warm = mapped_call(args, WARMUP_STEPS)
    timed_call(runner, device, warm, data_dir / "warm.mp4")
    result["direct"] = {}
    for steps in args.steps:
        call = mapped_call(args, steps)
        result["call"] = {k: v for k, v in call.items() if "prompt" not in k}
        row = timed_call(runner, device, call, data_dir / f"direct-{steps}.mp4")
        result["direct"][str(steps)] = row
        print(f"direct {steps} steps: pipe {row['pipe_s']:.2f} s + encode "
              f"{row['encode_s']:.2f} s", flush=True)
        report()

    if args.options:
        speedups(args, runner, device, data_dir, report, result)
    del runner
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


FAMILIES = ("t2v", "i2v", "images")


def family_call(family: str, args: argparse.Namespace, steps: int, image: Path) -> dict[str, Any]:
    """What openkling maps a Kling request of `family` to (small sizes with --small)."""
    from openkling.providers.diffusers import families

    if family == "i2v":
        small = {"fps": 2, "width": 96, "height": 64, "size_multiple": 32} if args.small else {}
        options = families.image2video_options(small | {"std_steps": steps}, tiny=args.small)
        return families.image2video_call(
            prompt=args.prompt, negative_prompt="", cfg_scale=0.5, mode="std",
            duration=args.duration, image_size=(1280, 704), image_path=str(image),
            last_image_path=None, seed=SEED, options=options).to_dict()
    options_i = families.image_options({"steps": steps}, tiny=args.small)
    return families.images_call(
        prompt=args.prompt, negative_prompt=None, aspect_ratio="1:1", resolution="1k", n=1,
        image_path=None, image_fidelity=0.5, seed=SEED, options=options_i).to_dict()


def build_family(family: str, small: bool, device: Any, dtype: Any) -> Any:
    from openkling.providers.diffusers import random_models as rm

    if family == "i2v":
        return rm.build_random_wan_i2v(rm.WAN22_SMALL if small else rm.WAN22_TI2V_5B,
                                       device, dtype, SEED)
    return rm.build_random_sdxl(rm.SDXL_SMALL if small else rm.SDXL_BASE_1_0, device, dtype,
                                SEED)


def family_rows(args: argparse.Namespace, data_dir: Path, report: Callable[[], None],
                result: dict[str, Any]) -> None:
    """Section 4: one pipeline at a time, freed before the next."""
    import torch
    from PIL import Image

    from openkling.providers.diffusers.pipeline import (
        PipelineRunner,
        resolve_device,
        resolve_dtype,
    )

    device = Device(torch)
    data_dir.mkdir(parents=True, exist_ok=True)
    image = data_dir / "first-frame.png"
    Image.linear_gradient("L").resize((1280, 704)).convert("RGB").save(image)
    rows: dict[str, Any] = result.setdefault("families", {})
    for family in (f for f in args.families if f != "t2v"):
        steps = args.i2v_steps if family == "i2v" else args.image_steps
        try:
            target = resolve_device(args.device)
            dtype = resolve_dtype("auto", target)
            started = time.perf_counter()
            pipe = build_family(family, args.small, target, dtype)
            pipe.set_progress_bar_config(disable=True)
            runner = PipelineRunner(pipe, target, dtype, {})
            del pipe
            build_s = time.perf_counter() - started
            runner.generate(family_call(family, args, WARMUP_STEPS, image),
                            data_dir / f"{family}-warm.mp4", lambda *_: None, lambda: False)
            call = family_call(family, args, steps, image)
            device.reset_peak()
            device.sync()
            started = time.perf_counter()
            out = runner.generate(call, data_dir / f"{family}.mp4", lambda *_: None,
                                  lambda: False)
            device.sync()
            row = {"generate_s": time.perf_counter() - started, "peak_gib": device.peak_gib(),
                   "build_s": build_s, "steps": steps, "width": out["width"],
                   "height": out["height"], "frames": out.get("frames"),
                   "images": len(out.get("images", [])), "dtype": str(dtype)}
            del runner
        except Exception as exc:  # one family failing must not lose the others
            row = {"error": f"{type(exc).__name__}: {exc}"[:300], "steps": steps}
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        rows[family] = row
        print(f"{family}: {row}", flush=True)
        report()


def variants(options: list[str]) -> list[tuple[str, list[str]]]:
    """Rows in the order they run: single options, then all on, then torch.compile alone.

    torch.compile cannot be undone in place, so rows that compile come last; 'all' uses the
    first attention backend listed (two backends cannot both be on).
    """
    backends = [o for o in options if o in ("cudnn", "flash")]
    rows = [(name, [name]) for name in options if name != "compile"]
    every = [o for o in options if o not in backends[1:]]
    if len(every) > 1:
        rows.append(("all", every))
    if "compile" in options:
        rows.append(("compile", ["compile"]))
    return rows


def speedups(args: argparse.Namespace, runner: Any, device: Device, data_dir: Path,
             report: Callable[[], None], result: dict[str, Any]) -> None:
    """Section 2. With --budget-s, a row that would not leave time for section 3 is skipped."""
    call = mapped_call(args, args.speedup_steps)
    rows: dict[str, Any] = {}
    result["speedups"] = rows
    plain = result["direct"].get(str(args.speedup_steps))
    if plain is None:
        timed_call(runner, device, mapped_call(args, WARMUP_STEPS), data_dir / "w.mp4")
        plain = timed_call(runner, device, call, data_dir / "plain.mp4")
    rows["plain"] = dict(plain, warmup_s=0.0)
    compiled = False
    for label, names in variants(args.options):
        if args.budget_s:
            cost = 2.5 * plain["total_s"] + (COMPILE_ALLOWANCE_S if "compile" in names else 0)
            if elapsed() + cost + openkling_reserve(args, result) > args.budget_s:
                rows[label] = {"error": f"skipped: would pass --budget-s {args.budget_s:g}"}
                print(f"speed-up {label}: skipped (budget)", flush=True)
                continue
        try:
            reset_options(runner.pipe)
            for name in names:
                if name == "compile" and compiled:
                    continue
                apply_option(runner.pipe, name)
                compiled = compiled or name == "compile"
            warm_started = time.perf_counter()
            timed_call(runner, device, mapped_call(args, WARMUP_STEPS), data_dir / "w.mp4")
            warm_s = time.perf_counter() - warm_started
            row = timed_call(runner, device, call, data_dir / f"opt-{label}.mp4")
            row.update(warmup_s=warm_s, options=names)
        except Exception as exc:  # one option failing must not lose the others
            row = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        rows[label] = row
        print(f"speed-up {label}: {row}", flush=True)
        report()


def openkling_reserve(args: argparse.Namespace, result: dict[str, Any]) -> float:
    """Seconds section 3 will need: server start and model build, warm-up, each step count."""
    if args.skip_openkling:
        return 0.0
    direct_s = sum(row["total_s"] for row in result["direct"].values())
    return 1.5 * result["load_s"] + 30 + 1.2 * direct_s


def config_file(args: argparse.Namespace, path: Path) -> Path:
    """Model routes `bench-s<N>`: one model process serves every step count."""
    lines = []
    for steps in sorted({WARMUP_STEPS, *args.steps}):
        lines += [f'[models.bench-s{steps}]', 'provider = "diffusers"',
                  f"options = {{ std_steps = {steps} }}", ""]
    path.write_text("\n".join(lines))
    return path


def through_openkling(args: argparse.Namespace, data_dir: Path, report: Callable[[], None],
                     result: dict[str, Any]) -> None:
    """Section 3: create -> succeed -> download through a real `openkling serve`."""
    import torch

    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKLING_")}
    env.update(
        OPENKLING_DATA_DIR=str(data_dir), OPENKLING_PROVIDER="diffusers",
        OPENKLING_CONFIG=str(config_file(args, data_dir / "bench.toml")),
        OPENKLING_POLL_INTERVAL="0.1", OPENKLING_LOG_LEVEL="warning",
        OPENKLING_LEASE_SECONDS="900",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")])),
    )
    for key, value in provider_options(args).items():
        env[f"OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__{key.upper()}"] = str(value)
    out = subprocess.run([python(), "-m", "openkling.cli.main", "keys", "create", "--name",
                          "bench", "--json"], env=env, capture_output=True, check=True,
                         cwd=ROOT)
    headers = {"Authorization": f"Bearer {json.loads(out.stdout)['api_key']}"}
    server = start([python(), "-m", "openkling.cli.main", "serve", "--port", str(port)], env,
                   port, "/readyz")
    result["openkling"] = {}
    try:
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=120) as client:
            for warm_up, steps in [(True, WARMUP_STEPS)] + [(False, s) for s in args.steps]:
                with DeviceSampler(torch) as sampler:
                    started = time.perf_counter()
                    task = client.post("/v1/videos/text2video", json={
                        "model_name": f"bench-s{steps}", "prompt": args.prompt, "mode": "std",
                        "aspect_ratio": "16:9", "duration": str(args.duration),
                    }).json()
                    if task.get("code") != 0:
                        raise SystemExit(f"create failed: {task}")
                    task = task["data"]
                    while task["task_status"] not in ("succeed", "failed"):
                        time.sleep(0.05)
                        task = client.get(
                            f"/v1/videos/text2video/{task['task_id']}").json()["data"]
                    if task["task_status"] != "succeed":
                        raise SystemExit(f"task failed: {task['task_status_msg']}")
                    video = task["task_result"]["videos"][0]
                    body = client.get(video["url"]).content
                    total = time.perf_counter() - started
                if warm_up:
                    continue
                row = {"total_s": total, "bytes": len(body), "duration": video["duration"],
                       "device_peak_gib": sampler.peak_gib()}
                result["openkling"][str(steps)] = row
                print(f"openkling {steps} steps: {total:.2f} s", flush=True)
                report()
    finally:
        server.stop()


def fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def table(result: dict[str, Any]) -> str:
    if "direct" not in result:
        return "\n".join(family_table(result.get("families", {})))
    call = result.get("call", {})
    runner = result.get("runner", {})
    lines = [f"\n{result['args']['model']} on {runner.get('device')} {runner.get('dtype')}: "
             f"{call.get('width')}x{call.get('height')}, {call.get('num_frames')} frames, "
             f"guidance {call.get('guidance_scale')}; load/build {result.get('load_s', 0):.1f} s",
             f"{'steps':>5} {'pipe() s':>9} {'+encode s':>10} {'openkling s':>12} "
             f"{'overhead':>9} {'peak GiB':>9} {'device GiB (e2e)':>17}"]
    for steps, row in result.get("direct", {}).items():
        ok = result.get("openkling", {}).get(steps)
        overhead = (ok["total_s"] / row["total_s"] - 1) * 100 if ok else None
        lines.append(f"{steps:>5} {row['pipe_s']:9.2f} {row['total_s']:10.2f} "
                     f"{fmt(ok and ok['total_s']):>12} {fmt(overhead, '+.1f') + ' %':>9} "
                     f"{fmt(row['peak_gib']):>9} {fmt(ok and ok['device_peak_gib']):>17}")
    for steps, row in result.get("direct", {}).items():
        if row.get("audio_samples"):
            lines.append(f"{steps:>5} steps: MP4 with {row['frames']} frames and an audio "
                         f"stream of {row['audio_samples']} samples at {row['sample_rate']} Hz")
    speedups = result.get("speedups", {})
    if speedups:
        plain = speedups.get("plain", {}).get("total_s")
        lines += [f"\nspeed-ups at {result['args']['speedup_steps']} steps, direct pipe() + "
                  "encode, after a 2-step warm-up each",
                  f"{'option':10} {'seconds':>9} {'vs plain':>9} {'peak GiB':>9} "
                  f"{'warm-up s':>10}  what (target: all <= 0.50)"]
        for label, row in speedups.items():
            if "error" in row:
                lines.append(f"{label:10} {row['error']}")
                continue
            ratio = row["total_s"] / plain if plain else None
            names = row.get("options", [])
            what = " + ".join(OPTIONS[n] for n in names) if names else "plain (the direct row)"
            lines.append(f"{label:10} {row['total_s']:9.2f} {fmt(ratio):>9} "
                         f"{fmt(row['peak_gib']):>9} {row['warmup_s']:10.1f}  {what}")
    lines += family_table(result.get("families", {}))
    return "\n".join(lines)


FAMILY_LABELS = {"i2v": "image2video 5 s (Wan 2.2 TI2V 5B)",
                 "images": "images n=1 (SDXL base 1.0)"}


def family_table(rows: dict[str, Any]) -> list[str]:
    if not rows:
        return []
    lines = ["\nother families: direct generate (pipe() + MP4/PNG write) after a 2-step "
             "warm-up, random weights; not through openkling",
             f"{'row':36} {'size':>10} {'frames':>6} {'steps':>5} {'seconds':>9} "
             f"{'peak GiB':>9} {'build s':>8}"]
    for family, row in rows.items():
        label = FAMILY_LABELS[family]
        if "error" in row:
            lines.append(f"{label:36} {row['error']}")
            continue
        lines.append(f"{label:36} {row['width']:>4}x{row['height']:<5} "
                     f"{row['frames'] or '-':>6} {row['steps']:>5} {row['generate_s']:9.2f} "
                     f"{fmt(row['peak_gib']):>9} {row['build_s']:8.1f}")
    return lines


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="random-wan2.1-1.3b",
                        help="random-wan2.1-1.3b, random-wan2.2-a14b or random-ltx2 (full "
                        "size, random weights), random-wan-small, tiny-random-ltx2 (the CPU "
                        "path of the sound), or any diffusers model id/folder")
    parser.add_argument("--small", action="store_true",
                        help="random-wan-small on the CPU (9 frames at 96x64), 2 steps, cache only")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--prompt", default=PROMPT)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--steps", default="50,20", help="comma list of step counts")
    parser.add_argument("--speedup-steps", type=int, default=20)
    parser.add_argument("--options", default="cache,cudnn,compile",
                        help="comma list of " + ", ".join(OPTIONS) + "; 'none' skips them")
    parser.add_argument("--families", default=",".join(FAMILIES),
                        help="comma list of t2v (sections 1-3), i2v, images (section 4)")
    parser.add_argument("--i2v-steps", type=int, default=10)
    parser.add_argument("--image-steps", type=int, default=30)
    parser.add_argument("--skip-openkling", action="store_true")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="skip speed-up rows that would leave too little time for the "
                        "openkling rows within this many seconds of the start")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a provider option for the model (repeatable), e.g. "
                        "vae_tiling=true or quantization=int8wo")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args(argv)
    if args.small:
        args.model, args.device, args.steps = "random-wan-small", "cpu", "2"
        args.speedup_steps, args.options = 2, "cache"
        args.i2v_steps = args.image_steps = 2
    args.steps = [int(s) for s in str(args.steps).split(",")]
    args.families = [f.strip() for f in args.families.split(",")]
    if unknown := set(args.families) - set(FAMILIES):
        raise SystemExit(f"unknown families {sorted(unknown)}: use {', '.join(FAMILIES)}")
    args.options = [] if args.options == "none" else [o.strip() for o in args.options.split(",")]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="openkling-bench-"))
    result: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}

    def report() -> None:
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))

    print(f"model {args.model} on {args.device}; data in {data_dir}", flush=True)
    family_rows(args, data_dir / "families", report, result)
    if "t2v" in args.families:
        direct(args, data_dir / "direct", report, result)
        if not args.skip_openkling:
            through_openkling(args, data_dir / "serve", report, result)
    report()
    print(table(result), flush=True)
    return result


if __name__ == "__main__":
    main()
