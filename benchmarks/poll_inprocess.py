"""What one poll costs inside the application, without HTTP: `OpenKlingApp` called directly
with a poll's ASGI scope, for a finished task, after a warm-up; optionally a cProfile of it.

    python benchmarks/poll_inprocess.py [--polls 20000] [--profile 25]

SQLite in a temporary directory, the provider double (its embedded worker finishes the task),
rate limits lifted. The figure is wall time per poll on this process's event loop: compare
runs on the same host, and read the profile for where a poll's time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from openkling.api.app import create_app
from openkling.assembly import Resources
from openkling.config import Settings
from openkling.core.secrets import hash_api_key

API_KEY = "ok-bench-inprocess"
PROVIDER_DOUBLE = "tests.doubles.provider:ProviderDouble"


async def add_key(settings: Settings) -> None:
    resources = Resources.open(settings)
    try:
        await resources.migrate()
        account, _ = await resources.accounts.get_or_create(
            "bench", now=1, callback_secret_enc=resources.master.encrypt("whsec_bench"))
        await resources.accounts.add_credential(
            account.id, label="bench", api_key_hash=hash_api_key(API_KEY), api_key_hint="ok-",
            access_key="AKBENCH", secret_key_enc=resources.master.encrypt("s" * 32), now=1)
    finally:
        await resources.close()


async def finished_task(app: Any) -> str:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://bench") as client:
        created = await client.post("/kling/v1/videos/text2video", headers=headers,
                                    json={"prompt": "a lighthouse at dusk"})
        task_id = str(created.json()["data"]["task_id"])
        for _ in range(200):
            task = (await client.get(f"/kling/v1/videos/text2video/{task_id}",
                                     headers=headers)).json()["data"]
            if task["task_status"] == "succeed":
                return task_id
            await asyncio.sleep(0.1)
    raise SystemExit(f"task {task_id} did not finish: {task}")


async def main(polls: int, profile: int) -> None:
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="openkling-bench-")),
                        provider=PROVIDER_DOUBLE, rate_limit_per_second=1e9,
                        rate_limit_burst=1_000_000_000)
    await add_key(settings)
    app = create_app(settings)
    lifespan: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    started = asyncio.Event()

    async def lifespan_send(message: dict[str, Any]) -> None:
        if message["type"].startswith("lifespan.startup"):
            started.set()

    await lifespan.put({"type": "lifespan.startup"})
    running = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, lifespan.get,
            lifespan_send))
    await started.wait()
    task_id = await finished_task(app)
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "root_path": "", "query_string": b"",
             "path": f"/kling/v1/videos/text2video/{task_id}", "raw_path": b"",
             "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000), "state": {},
             "headers": [(b"host", b"bench"), (b"authorization", f"Bearer {API_KEY}".encode())]}
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    for _ in range(1000):  # warm-up: caches filled, first-request work done
        await app(dict(scope), receive, send)
    began = time.perf_counter()
    for _ in range(polls):
        await app(dict(scope), receive, send)
    per_poll = (time.perf_counter() - began) / polls
    assert set(statuses) == {200}, set(statuses)
    print(f"{per_poll * 1e6:.1f} us per poll ({polls} polls of one finished task)")
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(polls):
            await app(dict(scope), receive, send)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(profile)
    await lifespan.put({"type": "lifespan.shutdown"})
    await running


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--polls", type=int, default=20_000)
    parser.add_argument("--profile", type=int, default=0,
                        help="also profile the polls and print this many lines")
    args = parser.parse_args()
    asyncio.run(main(args.polls, args.profile))
