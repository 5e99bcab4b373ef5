"""Poll latency and throughput while a video renders, versus idle, in the same run.

    python benchmarks/poll_while_rendering.py                       # tiny model on the CPU
    python benchmarks/poll_while_rendering.py --model Wan-AI/Wan2.1-T2V-1.3B-Diffusers \
        --device cuda --std-steps 30 --seconds 30

One real `openkling serve` (diffusers provider, embedded worker). Phases, same server:
1. render alone: --renders clips back to back, nobody polling -> seconds per clip;
2. idle polls: --clients httpx clients poll one finished task as fast as they can for
   --seconds -> p50/p99 latency and requests/s;
3. polls while rendering: the same polling while clips render back to back -> latency,
   requests/s, and seconds per clip under polling.
The model runs in its own process, so neither side should slow the other much; on a
machine with few cores they still compete for CPU, which the numbers show.
"""

from __future__ import annotations

import argparse
import asyncio
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
from _common import free_port, python, start  # noqa: E402


async def render(client: httpx.AsyncClient, prompt: str) -> float:
    """One clip: create, wait for succeed (polling at 5 Hz); returns seconds."""
    started = time.perf_counter()
    response = await client.post("/v1/videos/text2video", json={"prompt": prompt,
                                                                "duration": "5"})
    task = response.json()["data"]
    while task["task_status"] not in ("succeed", "failed"):
        await asyncio.sleep(0.2)
        task = (await client.get(f"/v1/videos/text2video/{task['task_id']}")).json()["data"]
    if task["task_status"] != "succeed":
        raise SystemExit(f"render failed: {task['task_status_msg']}")
    return time.perf_counter() - started


async def poll_for(base_url: str, headers: dict[str, str], path: str, clients: int,
                   seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def one_client() -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as c:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await c.get(path)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "requests": len(ordered), "errors": errors, "rps": len(ordered) / elapsed,
        "p50_ms": 1000 * ordered[len(ordered) // 2],
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    }


async def run(args: argparse.Namespace, base_url: str, headers: dict[str, str]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
        warm = await render(client, "warm-up")  # loads the model
        alone = [await render(client, f"alone {i}") for i in range(args.renders)]
        finished = (await client.get("/v1/videos/text2video?pageNum=1&pageSize=1")).json()
        path = f"/v1/videos/text2video/{finished['data'][0]['task_id']}"

        idle = await poll_for(base_url, headers, path, args.clients, args.seconds)

        under: list[float] = []
        stop = asyncio.Event()

        async def keep_rendering() -> None:
            while not stop.is_set():
                under.append(await render(client, "under polling"))

        renderer = asyncio.create_task(keep_rendering())
        await asyncio.sleep(0.5)  # the first clip is under way
        busy = await poll_for(base_url, headers, path, args.clients, args.seconds)
        stop.set()
        await renderer
    return {"warm_up_s": warm, "render_alone_s": alone, "idle": idle, "rendering": busy,
            "render_under_polling_s": under}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny-random-wan")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--std-steps", type=int, default=None)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--renders", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="openkling-poll-bench-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKLING_")}
    env.update(
        OPENKLING_DATA_DIR=str(data_dir), OPENKLING_PROVIDER="diffusers",
        OPENKLING_POLL_INTERVAL="0.1", OPENKLING_LOG_LEVEL="warning",
        OPENKLING_RATE_LIMIT_PER_SECOND="1000000", OPENKLING_RATE_LIMIT_BURST="1000000",
        OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__MODEL=args.model,
        OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__DEVICE=args.device,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")])),
    )
    if args.std_steps:
        env["OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__STD_STEPS"] = str(args.std_steps)
    out = subprocess.run([python(), "-m", "openkling.cli.main", "keys", "create", "--name",
                          "bench", "--json"], env=env, capture_output=True, check=True, cwd=ROOT)
    headers = {"Authorization": f"Bearer {json.loads(out.stdout)['api_key']}"}
    server = start([python(), "-m", "openkling.cli.main", "serve", "--port", str(port)], env,
                   port, "/readyz")
    try:
        result = asyncio.run(run(args, server.base_url, headers))
    finally:
        server.stop()

    print(f"\n{args.model} on {args.device}, {args.clients} clients, {args.seconds:.0f} s "
          f"per polling phase, {os.cpu_count()} CPUs")
    print(f"{'phase':26} {'polls/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
          f"{'s per clip':>11}")
    alone = statistics.median(result["render_alone_s"])
    under = result["render_under_polling_s"]
    rows = [
        ("render alone", None, alone),
        ("idle polling", result["idle"], None),
        ("polling while rendering", result["rendering"],
         statistics.median(under) if under else None),
    ]
    for label, polls, clip in rows:
        cells = (f"{polls['rps']:9.0f} {polls['p50_ms']:8.1f} {polls['p99_ms']:8.1f} "
                 f"{polls['errors']:7d}" if polls else f"{'':9} {'':8} {'':8} {'':7}")
        print(f"{label:26} {cells} {'' if clip is None else f'{clip:11.2f}'}")
    print(f"clips rendered while polling: {len(under)}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
