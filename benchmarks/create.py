"""Create throughput and latency under concurrency, against one client in the same run.

    python benchmarks/create.py [--tasks 400] [--clients 16]

`openkling serve` with the provider double (its worker running, so claims and status writes
compete with creates for SQLite's single writer). The baseline is the same server taking the
same number of creates from one client: the ratio shows what contention costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, free_port, python, start


async def run(base_url: str, key: str, tasks: int, clients: int) -> dict[str, float]:
    latencies: list[float] = []
    gate = asyncio.Semaphore(clients)
    async with httpx.AsyncClient(base_url=base_url, timeout=60,
                                 headers={"Authorization": f"Bearer {key}"}) as client:
        async def one(i: int) -> None:
            async with gate:
                began = time.perf_counter()
                response = await client.post("/v1/videos/text2video",
                                             json={"prompt": f"clip {i} [sleep=0.2]"})
                latencies.append(time.perf_counter() - began)
                response.raise_for_status()

        began = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(tasks)))
        wall = time.perf_counter() - began
    latencies.sort()
    return {"creates_per_s": tasks / wall,
            "p50_ms": latencies[len(latencies) // 2] * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
            "max_ms": latencies[-1] * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=400)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    port = free_port()
    env = {**os.environ, "OPENKLING_DATA_DIR": tempfile.mkdtemp(prefix="openkling-bench-"),
           "OPENKLING_PORT": str(port),
           # this tree's sources, not whatever openkling the virtualenv has installed
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
           "OPENKLING_PROVIDER": "tests.doubles.provider:ProviderDouble",
           "OPENKLING_RATE_LIMIT_PER_SECOND": "100000", "OPENKLING_RATE_LIMIT_BURST": "100000",
           "OPENKLING_MAX_UNFINISHED_TASKS": "100000", "OPENKLING_LOG_LEVEL": "warning"}
    key = json.loads(subprocess.run(
        [python(), "-m", "openkling.cli.main", "keys", "create", "--name", "bench", "--json"],
        env=env, capture_output=True, check=True).stdout)["api_key"]
    server = start([python(), "-m", "openkling.cli.main", "serve", "--port", str(port)],
                   env, port, "/readyz")
    try:
        rows = {"1 client": asyncio.run(run(server.base_url, key, args.tasks, 1)),
                f"{args.clients} clients": asyncio.run(
                    run(server.base_url, key, args.tasks, args.clients))}
    finally:
        server.stop()
    print(f"{'':14}{'creates/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name, row in rows.items():
        print(f"{name:14}{row['creates_per_s']:>10.0f}{row['p50_ms']:>9.1f}"
              f"{row['p99_ms']:>9.1f}{row['max_ms']:>9.1f}")
    one, many = rows["1 client"], rows[f"{args.clients} clients"]
    print(f"\nthroughput ratio {args.clients} clients / 1 client: "
          f"{many['creates_per_s'] / one['creates_per_s']:.2f}; "
          f"p99 ratio: {many['p99_ms'] / one['p99_ms']:.1f}")


if __name__ == "__main__":
    main()
