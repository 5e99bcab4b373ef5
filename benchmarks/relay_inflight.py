"""How fresh the relay keeps N in-flight upstream tasks (N = 100, 1,000, 10,000).

The Kling simulator double runs in its own process on loopback (so its CPU is not counted
as ours); this process runs one KlingProvider exactly as a worker would (one `run` per task,
concurrently) with a fake task context that records when each status change was seen.
Staleness = when our task showed a status - when the simulator switched to it.

    .venv/bin/python benchmarks/relay_inflight.py            # 100, 1000, 10000
    .venv/bin/python benchmarks/relay_inflight.py 100 1000   # a subset
    .venv/bin/python benchmarks/relay_inflight.py --stack    # full stack, see below

`--stack` measures what a client of openkling sees instead: the simulator in its own process,
a real `openkling serve` subprocess (kling provider, SQLite, embedded worker, rehost off)
relaying to it, N tasks created through `POST /v1/videos/text2video` by 16 HTTP clients, and
an observer that sweeps `GET /v1/videos/text2video?pageNum=&pageSize=500` every
`--sweep-interval` seconds recording when each task first shows `processing` and `succeed`.
The simulator reports its switch times itself (`/_sim/tasks`: processing_at and done_at per
external_task_id, which the relay sets to our task id); its schedule (processing after
5 + N/`--create-rate` s, done 10 + N/1000 s later) keeps every task unfinished upstream until
the last one is created, so all N are in flight at once (the table shows the peak measured).
Two staleness figures per status change:
- "via API" = first seen by the observer - simulator switch; raw, so it includes up to one
  observer period (the interval, or the sweep's own duration when that is longer);
- "in DB" = the task's `updated_at` as first seen - simulator switch: when our database row
  changed (as stamped by the writer; the commit may land a few ms later), independent of
  the observer's period.
"Submit lag" = upstream create time - our created_at (queueing in our worker before the
upstream submit). CPU and peak RSS (VmHWM) are the `openkling serve` process's own, from
/proc, from the first create to the last task seen finished. Answering the observer costs the
server CPU too: after the run the same pages are read again from the idle server, and that
cost per page times the pages read during the run is subtracted in "relay only" (an
estimate). The server log's warning/error lines are counted and sampled on stderr.

    .venv/bin/python benchmarks/relay_inflight.py --stack --keep 1000   # keep logs and DB
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from openkling.config import Settings  # noqa: E402
from openkling.core.models import GenerationSpec  # noqa: E402
from openkling.core.provider import TaskContext  # noqa: E402
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


# ----- full stack (--stack) ---------------------------------------------------------------

PAGE = 500
FINISHED = ("succeed", "failed")


@dataclass
class Seen:
    """What the observer saw of one of our tasks."""

    created_at: int = 0  # ms, from our API
    at: dict[str, float] = field(default_factory=dict)  # status -> wall time first seen
    updated: dict[str, int] = field(default_factory=dict)  # status -> its updated_at (ms)


@dataclass
class StackRun:
    n: int
    processing_after: float
    finish_after: float
    sweep_interval: float
    timeout: float
    concurrency: int
    keep: bool
    seen: dict[str, Seen] = field(default_factory=dict)
    create_errors: list[str] = field(default_factory=list)
    sweeps: list[float] = field(default_factory=list)
    creating: bool = True
    create_seconds: float = float("nan")
    done_pages: set[int] = field(default_factory=set)
    create_latency: list[float] = field(default_factory=list)
    page_latency: list[float] = field(default_factory=list)
    pages_fetched: int = 0


def proc_status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def peak_overlap(intervals: list[tuple[int, int]]) -> int:
    """Most intervals open at once (an interval ending at t is closed at t)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    best = current = 0
    for _, step in events:
        current += step
        best = max(best, current)
    return best


def stack_env(data_dir: Path, sim_base: str, n: int) -> dict[str, str]:
    """The server's whole configuration; no inherited OPENKLING_* variable leaks in."""
    channel = {"name": "sim", "base_url": sim_base, "path_prefix": "/kling",
               "api_key": "bench-key", "max_concurrency": 2 * n,
               "max_queries_per_second": 200, "timeout": 30}
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKLING_")}
    env.update({
        "PYTHONPATH": str(ROOT),
        "OPENKLING_DATA_DIR": str(data_dir),
        "OPENKLING_PROVIDER": "kling",
        "OPENKLING_PROVIDER_OPTIONS__KLING__CHANNELS": json.dumps([channel]),
        "OPENKLING_PROVIDER_OPTIONS__KLING__REHOST": "false",
        "OPENKLING_PROVIDER_OPTIONS__KLING__CONCURRENCY": str(2 * n),
        "OPENKLING_MAX_UNFINISHED_TASKS": str(2 * n),
        "OPENKLING_RATE_LIMIT_PER_SECOND": "100000",
        "OPENKLING_RATE_LIMIT_BURST": "100000",
        "OPENKLING_LOG_LEVEL": "warning",
    })
    return env


async def wait_ready(url: str, proc: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {seconds:.0f}s")


async def create_tasks(http: httpx.AsyncClient, run: StackRun) -> None:
    """N creates from `run.concurrency` clients; no retries (a retried POST may double-create)."""
    numbers = iter(range(run.n))
    started = time.monotonic()

    async def client() -> None:
        for i in numbers:
            body = {"model_name": "kling-v1", "prompt": f"clip {i}", "duration": "5"}
            try:
                sent = time.monotonic()
                answer = await http.post("/v1/videos/text2video", json=body)
                run.create_latency.append(time.monotonic() - sent)
                data = answer.json()
            except (httpx.HTTPError, ValueError) as exc:
                run.create_errors.append(type(exc).__name__)
                continue
            if answer.status_code != 200 or data.get("code") != 0:
                run.create_errors.append(f"{answer.status_code} {data.get('code')} "
                                         f"{data.get('message')}")
                continue
            task = data["data"]
            run.seen.setdefault(task["task_id"], Seen()).created_at = int(task["created_at"])

    await asyncio.gather(*(client() for _ in range(run.concurrency)))
    run.create_seconds = time.monotonic() - started
    run.creating = False


async def sweep_once(http: httpx.AsyncClient, run: StackRun, *, every_page: bool = False) -> int:
    """Read our tasks' pages once, noting first sightings of each status; pages fetched.

    Once creation is over, pages keep their tasks (newest first, nothing new), so a page whose
    tasks had all finished is skipped from then on: the observer costs the server little in
    the tail. `every_page` reads them all anyway (for measuring what a sweep costs)."""
    stable = not run.creating
    pages = (len(run.seen) + PAGE - 1) // PAGE if stable else 1000
    fetched = 0
    for page in range(1, pages + 1):
        if page in run.done_pages and not every_page:
            continue
        sent = time.monotonic()
        answer = await http.get("/v1/videos/text2video",
                                params={"pageNum": page, "pageSize": PAGE})
        if not every_page:
            run.page_latency.append(time.monotonic() - sent)
        fetched += 1
        now = time.time()
        items = answer.json()["data"]
        finished = 0
        for obj in items:
            seen = run.seen.setdefault(obj["task_id"], Seen(created_at=int(obj["created_at"])))
            status = obj["task_status"]
            if status not in seen.at:
                seen.at[status] = now
                seen.updated[status] = int(obj["updated_at"])
            finished += status in FINISHED
        if stable and finished == len(items):
            run.done_pages.add(page)
        if len(items) < PAGE:
            break
    return fetched


async def observe(http: httpx.AsyncClient, run: StackRun, deadline: float) -> None:
    """Sweep every `sweep_interval` until every created task is finished (or the deadline)."""
    while time.monotonic() < deadline:
        started = time.monotonic()
        run.pages_fetched += await sweep_once(http, run)
        run.sweeps.append(time.monotonic() - started)
        if not run.creating and all(any(s in seen.at for s in FINISHED)
                                    for seen in run.seen.values()):
            return
        await asyncio.sleep(max(0.0, run.sweep_interval - (time.monotonic() - started)))


def log_problems(path: Path) -> tuple[int, list[str]]:
    """Count the server log's warning/error lines (the log level is `warning`); a few samples."""
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    keywords = ("error", "warning", "exception", "traceback", "locked", "failed")
    bad = [line for line in lines if any(k in line.lower() for k in keywords)]
    samples: list[str] = []
    for line in bad:
        if line[:120] not in (s[:120] for s in samples):
            samples.append(line)
        if len(samples) >= 8:
            break
    return len(bad), samples


def p99(values: list[float]) -> float:
    return sorted(values)[int(0.99 * (len(values) - 1))] if values else float("nan")


def stats(values: list[float]) -> tuple[float, float]:
    """(worst, median); NaN for an empty list."""
    if not values:
        return float("nan"), float("nan")
    return max(values), statistics.median(values)


async def run_stack(run: StackRun) -> dict[str, Any]:
    n = run.n
    tmp = Path(tempfile.mkdtemp(prefix=f"relay-stack-{n}-"))
    sim_port, port = free_port(), free_port()
    sim_base, base = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{port}"
    env = stack_env(tmp / "data", sim_base, n)
    sim_log = (tmp / "simulator.log").open("wb")
    sim = subprocess.Popen(
        [sys.executable, "-m", "tests.doubles.kling_simulator", str(sim_port), str(n * 2),
         str(run.processing_after), str(run.finish_after)],
        cwd=ROOT, env=env, stdout=sim_log, stderr=subprocess.STDOUT)
    server: subprocess.Popen[bytes] | None = None
    server_log = tmp / "server.log"
    try:
        key = json.loads(subprocess.run(
            [sys.executable, "-m", "openkling.cli.main", "keys", "create", "--name", "bench",
             "--json"], cwd=ROOT, env=env, capture_output=True, check=True, timeout=120,
        ).stdout)["api_key"]
        with server_log.open("wb") as out:
            server = subprocess.Popen(
                [sys.executable, "-m", "openkling.cli.main", "serve", "--port", str(port)],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        await wait_ready(f"{sim_base}/_sim/stats", sim)
        await wait_ready(f"{base}/readyz", server)
        limits = httpx.Limits(max_connections=run.concurrency + 2)
        async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits,
                                     headers={"Authorization": f"Bearer {key}"}) as http:
            cpu0 = cpu_of(server.pid)
            started = time.monotonic()
            deadline = started + run.timeout
            creating = asyncio.create_task(create_tasks(http, run))
            await observe(http, run, deadline)
            if not creating.done():  # deadline hit while creating
                creating.cancel()
            wall = time.monotonic() - started
            cpu_total = cpu_of(server.pid) - cpu0
            hwm_mb = proc_status_kb(server.pid, "VmHWM") / 1024
            rss_end_mb = proc_status_kb(server.pid, "VmRSS") / 1024
            # What answering the observer cost: the same sweeps against the now idle server.
            await asyncio.sleep(1.0)
            cpu_idle0 = cpu_of(server.pid)
            pages = sum([await sweep_once(http, run, every_page=True) for _ in range(3)])
            per_page_cpu = (cpu_of(server.pid) - cpu_idle0) / pages
        async with httpx.AsyncClient(timeout=120) as http:
            upstream = (await http.get(f"{sim_base}/_sim/tasks")).json()
            sim_stats = (await http.get(f"{sim_base}/_sim/stats")).json()
    finally:
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        sim.terminate()
        sim.wait(timeout=10)
        sim_log.close()

    stale_api: list[float] = []
    stale_db: list[float] = []
    submit_lag: list[float] = []
    missed_processing = lost = 0
    intervals: list[tuple[int, int]] = []
    for task_id, seen in run.seen.items():
        if task_id not in upstream:
            lost += 1
            continue
        _, processing_at, done_at = upstream[task_id]
        created_upstream = processing_at - int(run.processing_after * 1000)
        intervals.append((created_upstream, done_at))
        submit_lag.append((created_upstream - seen.created_at) / 1000)
        for status, switched in (("processing", processing_at), ("succeed", done_at)):
            if status in seen.at:
                stale_api.append(seen.at[status] - switched / 1000)
                stale_db.append((seen.updated[status] - switched) / 1000)
            elif status == "processing":
                missed_processing += 1
    problems, samples = log_problems(server_log)
    if samples:
        print(f"N={n}: {problems} warning/error line(s) in the server log, e.g.:",
              file=sys.stderr)
        for line in samples:
            print(f"    {line[:300]}", file=sys.stderr)
    if run.keep:
        print(f"N={n}: logs and data kept in {tmp}", file=sys.stderr)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    created = len(run.seen)
    succeeded = sum(1 for s in run.seen.values() if "succeed" in s.at)
    observer_cpu = per_page_cpu * run.pages_fetched
    return {
        "n": n, "created": created, "succeeded": succeeded,
        "failed": sum(1 for s in run.seen.values() if "failed" in s.at),
        "create_errors": len(run.create_errors), "lost": lost,
        "missed_processing": missed_processing,
        "peak_in_flight": peak_overlap(intervals), "wall": wall,
        "create_seconds": run.create_seconds,
        "submit_lag": stats(submit_lag), "api": stats(stale_api), "db": stats(stale_db),
        "sweep": (statistics.median(run.sweeps), max(run.sweeps)), "sweeps": len(run.sweeps),
        "create_ms": (1000 * statistics.median(run.create_latency),
                      1000 * p99(run.create_latency), 1000 * max(run.create_latency)),
        "page_ms": (1000 * statistics.median(run.page_latency), 1000 * max(run.page_latency)),
        "pages_fetched": run.pages_fetched, "sweep_interval": run.sweep_interval,
        "cpu": cpu_total, "observer_cpu": observer_cpu, "hwm": hwm_mb, "rss_end": rss_end_mb,
        "requests": sim_stats["requests"], "submits_max": sim_stats["submits_max"],
        "log_problems": problems,
    }


def print_stack_table(rows: list[dict[str, Any]]) -> None:
    print("| N | peak upstream in flight | succeeded | wall s | creates/s "
          "| submit lag s (worst / median) "
          "| staleness via API s (worst / median) | staleness in DB s (worst / median) "
          "| create ms (p50 / p99 / max) | list page ms (p50 / max) "
          "| observer sweep s (every / median / max) | server CPU s (total / relay only) "
          "| server RSS MB (peak) | upstream requests | log warnings |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for r in rows:
        req = r["requests"]
        print(f"| {r['n']:,} | {r['peak_in_flight']:,} | {r['succeeded']:,}/{r['n']:,} "
              f"| {r['wall']:.1f} | {r['created'] / r['create_seconds']:.0f} "
              f"| {r['submit_lag'][0]:.2f} / {r['submit_lag'][1]:.2f} "
              f"| {r['api'][0]:.2f} / {r['api'][1]:.2f} | {r['db'][0]:.2f} / {r['db'][1]:.2f} "
              f"| {r['create_ms'][0]:.0f} / {r['create_ms'][1]:.0f} / {r['create_ms'][2]:.0f} "
              f"| {r['page_ms'][0]:.0f} / {r['page_ms'][1]:.0f} "
              f"| {r['sweep_interval']:g} / {r['sweep'][0]:.2f} / {r['sweep'][1]:.2f} "
              f"| {r['cpu']:.1f} / {r['cpu'] - r['observer_cpu']:.1f} | {r['hwm']:.0f} "
              f"| create {req.get('create', 0)}, list {req.get('list', 0)}, "
              f"get {req.get('get', 0)} | {r['log_problems']} |")


def print_provider_table(rows: list[dict[str, Any]]) -> None:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 1000, 10000])
    parser.add_argument("--stack", action="store_true",
                        help="full stack: openkling serve + HTTP clients (see the docstring)")
    parser.add_argument("--sweep-interval", type=float, default=None,
                        help="--stack: seconds between the observer's list sweeps (default "
                        "max(0.5, N/2000): a full sweep of 10,000 tasks costs the server "
                        "~0.5 CPU s, so sweeping them every 0.5 s would starve the relay)")
    parser.add_argument("--create-concurrency", type=int, default=16,
                        help="--stack: clients creating tasks at once")
    parser.add_argument("--create-rate", type=float, default=80.0,
                        help="--stack: creates/s assumed when scheduling the simulator, so "
                        "that every task is still unfinished upstream when the last is created")
    parser.add_argument("--timeout", type=float, default=None,
                        help="--stack: seconds per N (default: schedule + N/50 + 60)")
    parser.add_argument("--keep", action="store_true", help="--stack: keep logs and data")
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        if args.stack:
            processing_after = 5.0 + n / args.create_rate
            finish_after = processing_after + 10.0 + n / 1000
            run = StackRun(n=n, processing_after=processing_after, finish_after=finish_after,
                           sweep_interval=args.sweep_interval or max(0.5, n / 2000),
                           timeout=args.timeout or finish_after + n / 50 + 60,
                           concurrency=args.create_concurrency, keep=args.keep)
            row = asyncio.run(run_stack(run))
        else:
            row = asyncio.run(run_one_size(n))
        rows.append(row)
        print(f"done N={n}: {row}", file=sys.stderr, flush=True)
    if args.stack:
        print_stack_table(rows)
    else:
        print_provider_table(rows)


if __name__ == "__main__":
    main()
