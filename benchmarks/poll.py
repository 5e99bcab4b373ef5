"""Single-task query throughput and latency versus a bare ASGI endpoint, on SQLite and on
PostgreSQL, in the default configuration, plus memory.

    python benchmarks/poll.py [--databases sqlite,postgresql] [--seconds 10]
                              [--connections 64] [--tasks 100000] [--rounds 3]

Each server is `openkling serve --provider diffusers --model tiny-random-wan` exactly as a
user starts it without a GPU (access log on at the default log level, embedded worker and its
model process on), except: rate limits are lifted (they would answer 429), and on PostgreSQL
the database is `openkling_poll` (dropped and made afresh; the test suite's `test` database is
never touched). `--provider double` measures with the test double instead (no model
process). Servers run under uvicorn pinned to CPU 0, wrk on CPU 1.
Per database: RSS idle; --tasks finished tasks added in bulk (clones of a real finished task:
COPY on PostgreSQL, executemany on SQLite); RSS after; --rounds rounds of wrk polling ONE task
(RSS after each: growth across rounds would be a leak; requests per CPU second of the
server: what one core sustains, whatever else the host runs); one round polling a task picked at
random from 20,000 of the stored ones (what a cache cannot serve from memory); the same poll
through FastAPI routing. The baseline is a bare uvicorn ASGI app returning the same bytes,
running beside the server: each openkling round is followed by a bare round, and the ratio is
the median of the rounds' openkling / bare.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, cpu_seconds, free_port, python, rss_mb, start, wrk

ADMIN_URL = os.environ.get("OPENKLING_BENCH_ADMIN_URL",
                           "postgresql://postgres@127.0.0.1:5432/postgres")
PG_NAME = "openkling_poll"
PREFIX = "/kling/v1/videos/text2video"
SPREAD_LUA = r"""
local ids = {}
function init(args)
  for line in io.lines(args[1]) do ids[#ids + 1] = line end
  math.randomseed(os.time())
end
function request()
  return wrk.format("GET", "/kling/v1/videos/text2video/" .. ids[math.random(#ids)])
end
"""


def clone_id(base_ms: int, i: int) -> str:
    ms = base_ms + i
    return str((ms << 22) | (1023 << 12) | (i & 0xFFF))


def bulk_sqlite(db_path: Path, template_id: str, count: int) -> list[str]:
    conn = sqlite3.connect(db_path, timeout=30)
    try:
        conn.row_factory = sqlite3.Row
        row = dict(conn.execute("SELECT * FROM tasks WHERE id = ?", (template_id,)).fetchone())
        base = int(row["created_at"]) - 30 * 86_400_000
        columns = list(row)
        rows = []
        for i in range(count):
            clone = dict(row, id=clone_id(base, i), created_at=base + i, updated_at=base + i)
            rows.append(tuple(clone[c] for c in columns))
        conn.executemany(f"INSERT INTO tasks ({', '.join(columns)}) VALUES "
                         f"({', '.join('?' for _ in columns)})", rows)
        conn.commit()
        return [r[0] for r in rows]
    finally:
        conn.close()


async def bulk_postgres(url: str, template_id: str, count: int) -> list[str]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        row = dict(await conn.fetchrow("SELECT * FROM tasks WHERE id = $1", template_id))
        base = int(row["created_at"]) - 30 * 86_400_000
        columns = list(row)
        ids = [clone_id(base, i) for i in range(count)]
        await conn.copy_records_to_table("tasks", columns=columns, records=(
            tuple(dict(row, id=ids[i], created_at=base + i, updated_at=base + i)[c]
                  for c in columns) for i in range(count)))
        await conn.execute("ANALYZE tasks")
        return ids
    finally:
        await conn.close()


async def recreate_pg(drop_only: bool = False) -> None:
    import asyncpg

    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {PG_NAME} WITH (FORCE)")
        if not drop_only:
            await conn.execute(f"CREATE DATABASE {PG_NAME}")
    finally:
        await conn.close()


def row(r: Any) -> dict[str, Any]:
    return {"rps": round(r.requests_per_second), "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
            "requests": r.requests, "errors": r.errors}


def measure(database: str, args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="openkling-bench-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKLING_")}
    env.update(
        OPENKLING_DATA_DIR=str(data_dir),
        OPENKLING_PORT=str(port),
        OPENKLING_RATE_LIMIT_PER_SECOND="1000000",
        OPENKLING_RATE_LIMIT_BURST="1000000",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), str(ROOT),
                                                 env.get("PYTHONPATH")])),
    )
    env.update(item.split("=", 1) for item in args.env)
    pg_url = ADMIN_URL.rsplit("/", 1)[0] + "/" + PG_NAME
    if database == "postgresql":
        asyncio.run(recreate_pg())
        env["OPENKLING_DATABASE_URL"] = pg_url.replace("postgresql://", "postgresql+asyncpg://")
    keys = json.loads(subprocess.run(
        [python(), "-m", "openkling.cli.main", "keys", "create", "--name", "bench", "--json"],
        env=env, capture_output=True, check=True, cwd=ROOT).stdout)
    headers = {"Authorization": f"Bearer {keys['api_key']}"}
    serve = [python(), "-m", "openkling.cli.main", "serve", "--port", str(port)]
    if args.provider == "double":
        serve += ["--provider", "tests.doubles.provider:ProviderDouble"]
    else:
        serve += ["--provider", "diffusers", "--model", args.model]
    server = start(serve, env, port, "/readyz", cpu="0")
    results: dict[str, Any] = {"database": database}
    try:
        time.sleep(1)
        results["rss_idle_mb"] = round(rss_mb(server.proc.pid), 1)
        url = f"{server.base_url}{PREFIX}"
        with httpx.Client(headers=headers, timeout=30) as client:
            task = client.post(url, json={"prompt": "poll benchmark"}).json()["data"]
            deadline = time.monotonic() + 300
            while task["task_status"] != "succeed":
                if time.monotonic() > deadline:
                    raise SystemExit(f"the embedded worker never finished {task}")
                time.sleep(0.1)
                task = client.get(f"{url}/{task['task_id']}").json()["data"]
        started = time.monotonic()
        if database == "postgresql":
            ids = asyncio.run(bulk_postgres(pg_url, task["task_id"], args.tasks))
        else:
            ids = bulk_sqlite(data_dir / "openkling.db", task["task_id"], args.tasks)
        results["bulk_insert_s"] = round(time.monotonic() - started, 1)
        os.sync()  # so that the bulk insert's writeback does not share the first round
        target = f"{url}/{ids[len(ids) // 2]}"
        body = httpx.get(target, headers=headers).json()
        assert body["code"] == 0, body
        results["rss_after_tasks_mb"] = round(rss_mb(server.proc.pid), 1)
        bare = start_bare(body)
        rounds, bare_rounds = [], []
        try:  # each openkling round is followed by a bare round: the shared host's speed
            # drifts by tens of percent over minutes, and a pair sees the same host
            for _ in range(args.rounds):
                cpu = cpu_seconds(server.proc.pid)
                r = wrk(target, headers=headers, connections=args.connections,
                        seconds=args.seconds, cpu="1")
                used = cpu_seconds(server.proc.pid) - cpu
                rounds.append(row(r) | {"rss_mb": round(rss_mb(server.proc.pid), 1),
                                        "polls_per_cpu_s": round(r.requests / max(used, 0.01))})
                bare_rounds.append(row(wrk(f"{bare.base_url}/", headers=headers,
                                           connections=args.connections,
                                           seconds=args.seconds, cpu="1")))
        finally:
            bare.stop()
        results["rounds"] = rounds
        results["bare_rounds"] = bare_rounds
        ids_file = data_dir / "ids.txt"
        if args.skip_spread:
            ids = ids[:1]
        ids_file.write_text("\n".join(ids[:: max(1, len(ids) // 20_000)]) + "\n")
        script = data_dir / "spread.lua"
        script.write_text(SPREAD_LUA)
        cpu = cpu_seconds(server.proc.pid)
        r = wrk(url, headers=headers, connections=args.connections, seconds=args.seconds,
                cpu="1", script=script, script_args=[str(ids_file)])
        used = cpu_seconds(server.proc.pid) - cpu
        results["spread"] = row(r) | {"rss_mb": round(rss_mb(server.proc.pid), 1),
                                      "polls_per_cpu_s": round(r.requests / max(used, 0.01))}
        r = wrk(target + "?via=framework", headers=headers, connections=args.connections,
                seconds=args.seconds, cpu="1")
        results["via_fastapi"] = row(r)
    finally:
        server.stop()
        if database == "postgresql":
            asyncio.run(recreate_pg(drop_only=True))

    bare = results["bare"] = max(bare_rounds, key=lambda x: x["rps"])
    results["pair_ratios"] = [round(o["rps"] / b["rps"], 3)
                              for o, b in zip(rounds, bare_rounds, strict=True)]
    results["ratio"] = statistics.median(results["pair_ratios"])
    results["spread_ratio"] = round(results["spread"]["rps"] / bare["rps"], 3)
    return results


def start_bare(body: dict[str, Any]) -> Any:
    """A bare uvicorn ASGI app returning `body`'s bytes, on the same CPU as openkling (only
    one of the two is polled at a time)."""
    port = free_port()
    return start([python(), "-m", "uvicorn", "--app-dir", str(Path(__file__).parent),
                  "bare_asgi:app", "--port", str(port), "--log-level", "warning"],
                 {**os.environ, "BARE_BODY": json.dumps(body)}, port, "/", cpu="0")


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"\n{results['database']}: default configuration, {args.tasks} stored tasks, "
          f"{args.connections} connections")
    print(f"{'':28}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'RSS MB':>9}"
          f"{'req/CPU-s':>10}")
    lines = []
    for i, (r, b) in enumerate(zip(results["rounds"], results["bare_rounds"], strict=True), 1):
        lines += [(f"one task, round {i}", r), (f"  bare ASGI, round {i}", b)]
    lines += [("random of 20,000 tasks", results["spread"]),
              ("one task via FastAPI routing", results["via_fastapi"]),
              ]
    for label, r in lines:
        print(f"{label:28}{r['rps']:>9}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['errors']:>8}"
              f"{r.get('rss_mb', ''):>9}{r.get('polls_per_cpu_s', ''):>10}")
    for i, (r, b) in enumerate(zip(results["rounds"], results["bare_rounds"], strict=True), 1):
        print(f"pair {i}: ratio {r['rps'] / b['rps']:.3f} at bare {b['rps']} req/s; "
              f"p99 {r['p99_ms']:.2f} ms = {r['p99_ms'] / b['p99_ms']:.2f}x bare's")
    print(f"ratio to bare: one task {results['ratio']} (median of the rounds' "
          f"{results['pair_ratios']}), random task {results['spread_ratio']} (to the best bare "
          f"round); "
          f"RSS idle {results['rss_idle_mb']} MB, after {args.tasks} tasks "
          f"{results['rss_after_tasks_mb']} MB (bulk insert {results['bulk_insert_s']} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting that differs from the default (to measure its cost)")
    parser.add_argument("--skip-spread", action="store_true")
    parser.add_argument("--provider", choices=("diffusers", "double"), default="diffusers",
                        help="diffusers: `openkling serve --provider diffusers --model MODEL`, "
                        "as a user starts it; double: the test double, no model process")
    parser.add_argument("--model", default="tiny-random-wan")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    everything = {}
    for database in args.databases.split(","):
        everything[database] = measure(database, args)
        report(everything[database], args)
    if args.json:
        args.json.write_text(json.dumps(everything, indent=2))


if __name__ == "__main__":
    main()
