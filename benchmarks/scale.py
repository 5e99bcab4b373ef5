"""Scale-out on one host: PostgreSQL, 2 API processes, 3 workers, 100,000 stored tasks, a mixed
load of creates and polls. Throughput, p99, exactly-once completion, database size.

    python benchmarks/scale.py [--tasks 100000] [--seconds 30] [--connections 32]
                               [--create-every 10] [--max-creates 3000]

What runs (all on loopback, in a database of its own, `openkling_scale`, dropped and made
afresh; the `test` database of the test suite is never touched):
- 2 x `openkling serve --no-worker` (the API processes) and 3 x `openkling worker`, the
  workers with the provider double (tests/doubles/provider.py; each run sleeps 0.2 s, like a
  short upstream call, and logs its outcome to a file);
- the table is filled with --tasks finished tasks by COPY (clones of a real finished task,
  spread over 30 days of history), then ANALYZEd;
- the load: one wrk per API process (clients spread over both), --connections each, for
  --seconds; every --create-every-th request is a create (at most --max-creates per wrk
  thread), the rest poll a stored or a freshly created task at random;
- then it waits for the workers to finish what was created, and checks that every task
  created under load ended `succeed` exactly once: one `succeed` line in the double's log per
  task (a task run twice would log twice) and `succeed` in the database.
Reports requests/s, p50/p99, creates and polls per second, task completions per second per
worker, CPU seconds per process, and the table's size per million tasks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, Process, cpu_seconds, free_port, python, rss_mb, start, wrk

ADMIN_URL = os.environ.get("OPENKLING_SCALE_ADMIN_URL",
                           "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = "openkling_scale"
PREFIX = "/kling/v1/videos/text2video"

LUA = r"""
-- Mixed load: every `every`-th request creates a task (up to `max_creates` per thread), the
-- others poll a stored task or one this thread saw created.
local ids, fresh, threads, n = {}, {}, {}, 0
creates, polls, bad = 0, 0, 0
local every, max_creates = 10, 0
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do ids[#ids + 1] = line end
  every, max_creates = tonumber(args[2]), tonumber(args[3])
  math.randomseed(os.time() * 1000 + (seed or 0))
end

function request()
  n = n + 1
  if n % every == 0 and creates < max_creates then
    creates = creates + 1
    return wrk.format("POST", "/kling/v1/videos/text2video", nil,
                      '{"prompt": "scale test [sleep=0.2]"}')
  end
  polls = polls + 1
  local pool = ids
  if #fresh > 0 and math.random(2) == 1 then pool = fresh end
  return wrk.format("GET", "/kling/v1/videos/text2video/" .. pool[math.random(#pool)])
end

function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 return end
  if body:find('"task_status":"submitted"', 1, true) then
    local id = body:match('"task_id":"(%d+)"')
    if id and #fresh < 50000 then fresh[#fresh + 1] = id end
  end
end

function done(summary, latency, requests)
  local c, p, b = 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("creates"); p = p + t:get("polls"); b = b + t:get("bad")
  end
  io.write(string.format("SCALE creates=%d polls=%d bad=%d\n", c, p, b))
end
"""


def database_url(name: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


async def recreate_database() -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {DB_NAME}")
    finally:
        await conn.close()


async def drop_database() -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    finally:
        await conn.close()


async def seed(template_id: str, count: int) -> dict[str, Any]:
    """COPY `count` finished clones of one real finished task, 30 days of history."""
    conn = await asyncpg.connect(database_url(DB_NAME))
    try:
        row = await conn.fetchrow("SELECT * FROM tasks WHERE id = $1", template_id)
        assert row is not None and row["status"] == "succeed", row
        columns = list(row.keys())
        template = dict(row)
        first_ms = int(template["created_at"]) - 30 * 86_400_000
        step_ms = 30 * 86_400_000 // count

        def clone(i: int) -> tuple[Any, ...]:
            ms = first_ms + i * step_ms
            values = dict(template, id=str((ms << 22) | (1023 << 12) | (i & 0xFFF)),
                          created_at=ms, updated_at=ms + 20_000, run_after=ms)
            return tuple(values[c] for c in columns)

        started = time.perf_counter()
        await conn.copy_records_to_table("tasks", records=(clone(i) for i in range(count)),
                                         columns=columns)
        await conn.execute("ANALYZE tasks")
        seconds = time.perf_counter() - started
        sample = [r["id"] for r in await conn.fetch(
            "SELECT id FROM tasks WHERE status = 'succeed' ORDER BY random() LIMIT 2000")]
        return {"seconds": seconds, "rows_per_s": count / seconds, "sample": sample}
    finally:
        await conn.close()


async def table_sizes() -> dict[str, int]:
    conn = await asyncpg.connect(database_url(DB_NAME))
    try:
        return {
            "tasks_rows": int(await conn.fetchval("SELECT count(*) FROM tasks")),
            "tasks_bytes": int(await conn.fetchval("SELECT pg_total_relation_size('tasks')")),
            "tasks_heap_bytes": int(await conn.fetchval("SELECT pg_relation_size('tasks')")),
            "deliveries_bytes": int(await conn.fetchval(
                "SELECT pg_total_relation_size('callback_deliveries')")),
            "database_bytes": int(await conn.fetchval(
                f"SELECT pg_database_size('{DB_NAME}')")),
        }
    finally:
        await conn.close()


async def created_since(since_ms: int) -> dict[str, str]:
    conn = await asyncpg.connect(database_url(DB_NAME))
    try:
        rows = await conn.fetch("SELECT id, status FROM tasks WHERE created_at >= $1", since_ms)
        return {r["id"]: r["status"] for r in rows}
    finally:
        await conn.close()


def wait_finished(since_ms: int, timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        statuses = asyncio.run(created_since(since_ms))
        open_ = [s for s in statuses.values() if s not in ("succeed", "failed")]
        if not open_ or time.monotonic() > deadline:
            return statuses
        time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--connections", type=int, default=32, help="per API process")
    parser.add_argument("--create-every", type=int, default=10)
    parser.add_argument("--max-creates", type=int, default=3000, help="per wrk thread")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--apis", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    asyncio.run(recreate_database())
    work = Path(tempfile.mkdtemp(prefix="openkling-scale-"))
    double_log = work / "double.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKLING_")}
    env.update(
        OPENKLING_DATA_DIR=str(work / "data"),
        OPENKLING_DATABASE_URL=database_url(DB_NAME).replace("postgresql://",
                                                               "postgresql+asyncpg://"),
        OPENKLING_SECRET_KEY="scale-benchmark-secret-key-0123456789abcdef",
        OPENKLING_PROVIDER="tests.doubles.provider:ProviderDouble",
        OPENKLING_DOUBLE_LOG=str(double_log),
        OPENKLING_POLL_INTERVAL="0.2",
        OPENKLING_RATE_LIMIT_PER_SECOND="1000000", OPENKLING_RATE_LIMIT_BURST="1000000",
        OPENKLING_MAX_UNFINISHED_TASKS="1000000",
        OPENKLING_LOG_LEVEL="warning",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), str(ROOT),
                                                 env.get("PYTHONPATH")])),
    )
    cli = [python(), "-m", "openkling.cli.main"]
    subprocess.run([*cli, "migrate"], env=env, check=True, cwd=ROOT, capture_output=True)
    key = json.loads(subprocess.run([*cli, "keys", "create", "--name", "scale", "--json"],
                                    env=env, check=True, cwd=ROOT,
                                    capture_output=True).stdout)["api_key"]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    apis: list[Process] = []
    workers: list[subprocess.Popen[bytes]] = []
    result: dict[str, Any] = {"args": vars(args) | {"json": str(args.json)}}
    try:
        for _ in range(args.apis):
            port = free_port()
            apis.append(start([*cli, "serve", "--no-worker", "--port", str(port)], env, port,
                              "/readyz"))
        for _ in range(args.workers):
            workers.append(subprocess.Popen([*cli, "worker"], env=env, cwd=ROOT,
                                            stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL))

        # One real task end to end: the template of the stored history.
        with httpx.Client(base_url=apis[0].base_url, headers=headers, timeout=30) as client:
            task = client.post(PREFIX, json={"prompt": "template"}).json()["data"]
            deadline = time.monotonic() + 60
            while task["task_status"] != "succeed":
                if time.monotonic() > deadline:
                    raise SystemExit(f"the template task never finished: {task}")
                time.sleep(0.2)
                task = client.get(f"{PREFIX}/{task['task_id']}").json()["data"]
        seeded = asyncio.run(seed(task["task_id"], args.tasks))
        result["seed"] = {k: round(v, 1) for k, v in seeded.items() if k != "sample"}
        print(f"seeded {args.tasks} tasks in {seeded['seconds']:.1f} s "
              f"({seeded['rows_per_s']:.0f} rows/s)", flush=True)
        result["size_after_seed"] = asyncio.run(table_sizes())
        ids_file = work / "ids.txt"
        ids_file.write_text("\n".join(seeded["sample"]) + "\n")
        script = work / "mixed.lua"
        script.write_text(LUA)

        cpu_before = {p.proc.pid: cpu_seconds(p.proc.pid) for p in apis}
        cpu_before |= {w.pid: cpu_seconds(w.pid) for w in workers}
        load_started_ms = int(time.time() * 1000)
        started = time.monotonic()
        with ThreadPoolExecutor(len(apis)) as pool:
            runs = list(pool.map(lambda api: wrk(
                f"{api.base_url}{PREFIX}", headers=headers, connections=args.connections,
                seconds=args.seconds, script=script,
                script_args=[str(ids_file), str(args.create_every), str(args.max_creates)]),
                apis))
        load_s = time.monotonic() - started
        cpu_load = {pid: cpu_seconds(pid) - before for pid, before in cpu_before.items()}
        statuses = wait_finished(load_started_ms, timeout=300)
        drained_s = time.monotonic() - started
        cpu_total = {pid: cpu_seconds(pid) - before for pid, before in cpu_before.items()}
        result["rss_mb"] = {"api": [rss_mb(p.proc.pid) for p in apis],
                            "worker": [rss_mb(w.pid) for w in workers]}

        counts = [dict(zip(("creates", "polls", "bad"),
                           map(int, re.findall(r"=(\d+)", r.output.split("SCALE")[-1])),
                           strict=True)) for r in runs]
        lines = [line.split() for line in double_log.read_text().splitlines()] \
            if double_log.exists() else []
        runs_per_task = Counter(t for t, outcome, _ in lines if outcome == "succeed")
        by_worker = Counter(pid for t, outcome, pid in lines if t in statuses)
        created = len(statuses)
        result["load"] = {
            "seconds": round(load_s, 1),
            "per_api": [{"rps": round(r.requests_per_second), "p50_ms": r.p50_ms,
                         "p99_ms": r.p99_ms, "requests": r.requests, "non_2xx": r.errors,
                         **c} for r, c in zip(runs, counts, strict=True)],
            "rps": round(sum(r.requests_per_second for r in runs)),
            "p99_ms_worst": max(r.p99_ms for r in runs),
            "creates_per_s": round(created / load_s, 1),
            "polls_per_s": round(sum(c["polls"] for c in counts) / load_s),
        }
        result["completion"] = {
            "created_under_load": created,
            "status": dict(Counter(statuses.values())),
            "succeed_exactly_once": sum(1 for t in statuses if runs_per_task[t] == 1),
            "ran_more_than_once": sorted(t for t in statuses if runs_per_task[t] > 1),
            "never_ran": sorted(t for t in statuses if runs_per_task[t] == 0),
            "per_worker": sorted(by_worker.values()),
            "drained_after_s": round(drained_s, 1),
        }
        api_cpu = sum(cpu_load[p.proc.pid] for p in apis)
        worker_cpu = sum(cpu_total[w.pid] for w in workers)
        result["cpu"] = {
            "api_cpu_s_during_load": round(api_cpu, 1),
            "worker_cpu_s_total": round(worker_cpu, 1),
            "requests_per_api_cpu_s": round(sum(r.requests for r in runs) / api_cpu),
            "worker_cpu_ms_per_task": round(1000 * worker_cpu / max(1, created), 1),
        }
        result["size_after_load"] = sizes = asyncio.run(table_sizes())
        per_task = sizes["tasks_bytes"] / sizes["tasks_rows"]
        result["bytes_per_task"] = round(per_task)
        result["gib_per_million_tasks"] = round(per_task * 1e6 / 2**30, 2)
    finally:
        for api in apis:
            api.stop()
        for w in workers:
            w.terminate()
        for w in workers:
            try:
                w.wait(30)
            except subprocess.TimeoutExpired:
                w.kill()
        if not args.keep:
            asyncio.run(drop_database())

    load, done = result["load"], result["completion"]
    print(f"\n{args.apis} API processes, {args.workers} workers, {args.tasks} stored tasks, "
          f"{args.connections} connections per API, {load['seconds']} s of mixed load")
    print(f"{'API':>4}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'creates':>9}{'polls':>9}"
          f"{'non-2xx':>9}")
    for i, row in enumerate(load["per_api"], 1):
        print(f"{i:>4}{row['rps']:>9}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}"
              f"{row['creates']:>9}{row['polls']:>9}{row['non_2xx']:>9}")
    print(f"total {load['rps']} req/s: {load['creates_per_s']} creates/s, "
          f"{load['polls_per_s']} polls/s; worst p99 {load['p99_ms_worst']:.1f} ms")
    print(f"created under load {done['created_under_load']}: {done['status']}; succeeded "
          f"exactly once {done['succeed_exactly_once']}, more than once "
          f"{len(done['ran_more_than_once'])}, never ran {len(done['never_ran'])}; per worker "
          f"{done['per_worker']}; all finished {done['drained_after_s']} s after load start")
    print(f"CPU: API {result['cpu']['api_cpu_s_during_load']} s during the load "
          f"({result['cpu']['requests_per_api_cpu_s']} requests per API CPU second); "
          f"workers {result['cpu']['worker_cpu_s_total']} s "
          f"({result['cpu']['worker_cpu_ms_per_task']} ms per task)")
    print(f"seed: COPY {result['seed']['rows_per_s']:.0f} rows/s; tasks table "
          f"{result['size_after_load']['tasks_bytes'] / 2**20:.1f} MiB for "
          f"{result['size_after_load']['tasks_rows']} rows = {result['bytes_per_task']} B/task "
          f"= {result['gib_per_million_tasks']} GiB per million tasks")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
