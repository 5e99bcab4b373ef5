"""Single-task query throughput and latency versus a bare ASGI endpoint, plus memory.

    python benchmarks/poll.py [--seconds 10] [--connections 64] [--tasks 10000]
    python benchmarks/poll.py --access-log-cost   # also: the same polls with the access log on

Both servers run under uvicorn (same loop and HTTP parser) pinned to CPU 0; wrk runs on
CPU 1 with 64 connections. The bare endpoint returns the exact bytes openkling returns for
the polled task, so the ratio is the cost of FastAPI + auth + the database read.
Memory: the openkling process's RSS when idle, after storing --tasks tasks, and after each
round of polls (growth across rounds would show a leak).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import free_port, python, rss_mb, start, wrk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--access-log-cost", action="store_true",
                        help="restart the server at the default log level (info: one access "
                        "line per request, to /dev/null) and poll again")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="openkling-bench-"))
    port = free_port()
    env = {
        **os.environ,
        "OPENKLING_DATA_DIR": str(data_dir),
        "OPENKLING_PORT": str(port),
        "OPENKLING_EMBEDDED_WORKER": "false",  # tasks stay queued: we measure the API alone
        "OPENKLING_RATE_LIMIT_PER_SECOND": "1000000",
        "OPENKLING_RATE_LIMIT_BURST": "1000000",
        "OPENKLING_MAX_UNFINISHED_TASKS": str(args.tasks + 10),
        "OPENKLING_LOG_LEVEL": "warning",
    }
    keys = json.loads(__import__("subprocess").run(
        [python(), "-m", "openkling.cli.main", "keys", "create", "--name", "bench", "--json"],
        env=env, capture_output=True, check=True).stdout)
    headers = {"Authorization": f"Bearer {keys['api_key']}",
               "Content-Type": "application/json"}
    server = start([python(), "-m", "openkling.cli.main", "serve", "--port", str(port)],
                   env, port, "/readyz", cpu="0")
    results: dict[str, object] = {}
    try:
        time.sleep(1)
        results["rss_idle_mb"] = round(rss_mb(server.proc.pid), 1)
        url = f"{server.base_url}/kling/v1/videos/text2video"
        started = time.monotonic()
        with httpx.Client(headers=headers) as client, ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(
                lambda i: client.post(url, json={"prompt": f"benchmark task {i}"})
                .json()["data"]["task_id"], range(args.tasks)))
        results["create_seconds"] = round(time.monotonic() - started, 1)
        results["rss_after_tasks_mb"] = round(rss_mb(server.proc.pid), 1)
        target = f"{url}/{ids[len(ids) // 2]}"
        body = httpx.get(target, headers=headers).json()

        rounds = []
        for _ in range(args.rounds):
            r = wrk(target, headers=headers, connections=args.connections,
                    seconds=args.seconds, cpu="1")
            rounds.append({"rps": round(r.requests_per_second), "p50_ms": r.p50_ms,
                           "p99_ms": r.p99_ms, "requests": r.requests, "errors": r.errors,
                           "rss_mb": round(rss_mb(server.proc.pid), 1)})
        results["openkling_rounds"] = rounds
        # Same server, same task, but routed through FastAPI (a query string skips the fast
        # path), and FastAPI's cheapest route: what the framework itself costs.
        for name, url_variant, hdrs in (("via_fastapi", target + "?via=framework", headers),
                                        ("fastapi_healthz", f"{server.base_url}/healthz", {})):
            r = wrk(url_variant, headers=hdrs, connections=args.connections,
                    seconds=args.seconds, cpu="1")
            results[name] = {"rps": round(r.requests_per_second), "p50_ms": r.p50_ms,
                             "p99_ms": r.p99_ms, "requests": r.requests, "errors": r.errors}
    finally:
        server.stop()

    if args.access_log_cost:
        # Same data, same task; only the log level differs (the access line is INFO).
        server = start([python(), "-m", "openkling.cli.main", "serve", "--port", str(port)],
                       {**env, "OPENKLING_LOG_LEVEL": "info"}, port, "/readyz", cpu="0")
        try:
            logged = []
            for _ in range(args.rounds):
                r = wrk(target, headers=headers, connections=args.connections,
                        seconds=args.seconds, cpu="1")
                logged.append({"rps": round(r.requests_per_second), "p50_ms": r.p50_ms,
                               "p99_ms": r.p99_ms, "requests": r.requests, "errors": r.errors})
        finally:
            server.stop()
        results["access_log_rounds"] = logged

    bare_port = free_port()
    bare_env = {**os.environ, "BARE_BODY": json.dumps(body)}
    bare = start([python(), "-m", "uvicorn", "--app-dir", str(Path(__file__).parent),
                  "bare_asgi:app", "--port", str(bare_port), "--log-level", "warning"],
                 bare_env, bare_port, "/", cpu="0")
    try:
        r = wrk(f"{bare.base_url}/", headers=headers, connections=args.connections,
                seconds=args.seconds, cpu="1")
        results["bare"] = {"rps": round(r.requests_per_second), "p50_ms": r.p50_ms,
                           "p99_ms": r.p99_ms, "requests": r.requests, "errors": r.errors}
    finally:
        bare.stop()

    best = max(rounds, key=lambda x: x["rps"])  # type: ignore[arg-type, return-value]
    bare_rps = results["bare"]["rps"]  # type: ignore[index]
    results["ratio"] = round(best["rps"] / bare_rps, 3)  # type: ignore[operator]
    print(f"{'':24}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}{'RSS MB':>9}")
    for i, row in enumerate(rounds, 1):
        print(f"openkling round {i:<8}{row['rps']:>10}{row['p50_ms']:>10.2f}"
              f"{row['p99_ms']:>10.2f}{row['errors']:>8}{row['rss_mb']:>9}")
    for label, key in (("poll via FastAPI routing", "via_fastapi"),
                       ("FastAPI /healthz", "fastapi_healthz"), ("bare ASGI", "bare")):
        row = results[key]
        print(f"{label:24}{row['rps']:>10}{row['p50_ms']:>10.2f}"  # type: ignore[index]
              f"{row['p99_ms']:>10.2f}{row['errors']:>8}{'':>9}")  # type: ignore[index]
    print(f"\nthroughput ratio openkling/bare: {results['ratio']}")
    print(f"RSS idle {results['rss_idle_mb']} MB; after {args.tasks} tasks "
          f"{results['rss_after_tasks_mb']} MB (created in {results['create_seconds']} s)")
    if args.access_log_cost:
        quiet = max(r["rps"] for r in rounds)  # type: ignore[type-var]
        loud = max(r["rps"] for r in results["access_log_rounds"])  # type: ignore[attr-defined]
        for i, row in enumerate(results["access_log_rounds"], 1):  # type: ignore[arg-type]
            print(f"access log on, round {i:<3}{row['rps']:>10}{row['p50_ms']:>10.2f}"
                  f"{row['p99_ms']:>10.2f}{row['errors']:>8}")
        cost_us = (1 / loud - 1 / quiet) * 1e6  # the server is pinned to one CPU
        results["access_log_cost_us"] = round(cost_us, 1)
        print(f"access log: best {loud} vs {quiet} req/s without it: "
              f"{cost_us:+.1f} us per poll")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
