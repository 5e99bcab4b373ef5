"""How fresh the relay keeps N in-flight upstream tasks (N = 100, 1,000, 10,000).

The Kling simulator double runs in its own process on loopback (so its CPU is not counted
as ours); this process runs one KlingProvider exactly as a worker would (one `run` per task,
concurrently) with a fake task context that records when each status change was seen.
Staleness = when our task showed a status - when the simulator switched to it.

    .venv/bin/python benchmarks/relay_inflight.py            # 100, 1000, 10000
    .venv/bin/python benchmarks/relay_inflight.py 100 1000   # a subset
"""

from __future__ import annotations

import asyncio
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from openkling.config import Settings  # noqa: E402
from openkling.core.models import GenerationSpec  # noqa: E402
from openkling.providers.base import TaskContext  # noqa: E402
from openkling.providers.kling import KlingProvider  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class NullStorage:
    async def put_file(self, key: str, source: Path, content_type: str = "video/mp4") -> None:
        raise AssertionError("rehost is off in this benchmark")

    async def delete(self, key: str) -> None: ...

    async def exists(self, key: str) -> bool:
        return False

    def url_for(self, key: str) -> str:
        return key

    async def close(self) -> None: ...


async def run_one_size(n: int) -> dict[str, Any]:
    port = free_port()
    processing_after = 5.0 + n / 500
    finish_after = processing_after + 10.0 + n / 1000
    sim = subprocess.Popen(
        [sys.executable, "-m", "tests.doubles.kling_simulator", str(port), str(n * 2),
         str(processing_after), str(finish_after)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(200):
                try:
                    await http.get(f"{base}/_sim/stats")
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.05)
        options = {
            "channels": [{"name": "sim", "base_url": base, "path_prefix": "/kling",
                          "api_key": "bench-key", "max_concurrency": n * 2,
                          "max_queries_per_second": 200, "timeout": 30}],
            "rehost": False,
        }
        provider = KlingProvider(options, Settings(data_dir=Path("/tmp/relay-bench")))
        await provider.start()
        seen: dict[str, dict[str, float]] = {}
        window: dict[str, float] = {}  # steady tracking: all submitted .. first finished
        submitted = 0

        def cpu_now() -> float:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            return usage.ru_utime + usage.ru_stime

        async def one(i: int) -> None:
            task_id = f"{int(time.time() * 1000) << 20 | i}"
            marks = seen.setdefault(task_id, {})

            async def save(state: dict[str, Any]) -> None:
                nonlocal submitted
                if "upstream_task_id" in state and "id" not in marks:
                    marks["id"] = 1
                    submitted += 1
                    if submitted == n:
                        window["t0"], window["c0"] = time.monotonic(), cpu_now()

            async def report(_progress: float | None) -> None:
                marks.setdefault("processing", time.time())

            ctx = TaskContext(task_id=task_id, attempt=1, state={}, storage=NullStorage(),
                              work_dir=Path("/tmp/relay-bench"), save_state=save,
                              report=report)
            spec = GenerationSpec(task_id=task_id, model_name="kling-v1", prompt=f"clip {i}",
                                  negative_prompt=None, cfg_scale=0.5, mode="std",
                                  aspect_ratio="16:9", duration=5)
            await provider.run(spec, ctx)
            marks["succeed"] = time.time()
            if "t1" not in window and "t0" in window:
                window["t1"], window["c1"] = time.monotonic(), cpu_now()

        sim_cpu0, our_cpu0 = cpu_of(sim.pid), resource.getrusage(resource.RUSAGE_SELF)
        started = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(n)))
        wall = time.monotonic() - started
        our_cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        sim_cpu = cpu_of(sim.pid) - sim_cpu0
        peak_rss = rss_mb()
        async with httpx.AsyncClient(timeout=60) as http:
            upstream = (await http.get(f"{base}/_sim/tasks")).json()
            stats = (await http.get(f"{base}/_sim/stats")).json()
        await provider.close()
        stale: list[float] = []
        for task_id, marks in seen.items():
            _, processing_at, done_at = upstream[task_id]
            if "processing" in marks:
                stale.append(marks["processing"] - processing_at / 1000)
            stale.append(marks["succeed"] - done_at / 1000)
        our_cpu = (our_cpu1.ru_utime + our_cpu1.ru_stime) - (our_cpu0.ru_utime + our_cpu0.ru_stime)
        tracking_cpu = (100 * (window["c1"] - window["c0"]) / (window["t1"] - window["t0"])
                        if "t1" in window else float("nan"))
        return {
            "tracking_cpu": tracking_cpu,
            "n": n, "wall": wall, "worst": max(stale), "p50": statistics.median(stale),
            "cpu": our_cpu, "sim_cpu": sim_cpu, "rss": peak_rss,
            "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "requests": stats["requests"], "submits_max": stats["submits_max"],
        }
    finally:
        sim.terminate()
        sim.wait(timeout=10)


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [100, 1000, 10000]
    rows = []
    for n in sizes:
        row = asyncio.run(run_one_size(n))
        rows.append(row)
        print(f"done N={n}: {row}", file=sys.stderr, flush=True)
    print("| in flight | wall s | worst staleness s | median staleness s | relay CPU s (total) "
          "| relay CPU while tracking | simulator CPU s | relay RSS MB (peak) "
          "| upstream requests |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        req = r["requests"]
        print(f"| {r['n']:,} | {r['wall']:.1f} | {r['worst']:.2f} | {r['p50']:.2f} "
              f"| {r['cpu']:.1f} | {r['tracking_cpu']:.1f} % | {r['sim_cpu']:.1f} "
              f"| {r['maxrss']:.0f} "
              f"| create {req.get('create', 0)}, list {req.get('list', 0)}, "
              f"get {req.get('get', 0)} |")


if __name__ == "__main__":
    main()
