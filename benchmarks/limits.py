"""What a deployment-wide rate-limit check adds to a poll, as ratios in one run.

    python benchmarks/limits.py [--requests 5000]

Measures, per request, in one process against the local PostgreSQL (and Redis when it
answers): the poll's own database read (`TaskStore.get` by id, the baseline), and the rate
limit check of `api.limits.RateLimiter` as every kind of deployment runs it: in memory (one
process), shared with a store round trip per request (lease of 1), and shared with leases of
5 (the default at 50 req/s) and 10. The rate is set high so nothing is refused: the cost of
admitting is what every poll pays. Printed: microseconds per request and (read + check) /
(read + in-memory check), i.e. what the cross-process limit costs a poll that reads the
database; a poll served from a cache would pay the check alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import asyncpg

from openkling.api.limits import RateLimiter
from openkling.core.ids import new_task_id
from openkling.store import migrate
from openkling.store.accounts import AccountStore
from openkling.store.database import Database
from openkling.store.rate_buckets import PostgresBuckets, RedisBuckets
from openkling.store.tasks import TaskStore

ADMIN = os.environ.get("OPENKLING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("OPENKLING_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


async def per_request(fn, requests: int) -> float:  # type: ignore[no-untyped-def]
    for _ in range(min(200, requests)):  # warm up pools and caches
        await fn()
    start = time.perf_counter()
    for _ in range(requests):
        await fn()
    return (time.perf_counter() - start) / requests * 1e6


async def main(requests: int) -> None:
    name = f"openkling_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + "/" + name
    db = Database(url)
    try:
        await migrate.upgrade(db)
        account, _ = await AccountStore(db).get_or_create("bench", now=1, callback_secret_enc=b"x")
        store = TaskStore(db)
        task = await store.insert({
            "id": new_task_id(), "account_id": account.id, "kind": "text2video",
            "external_task_id": None, "model_name": "kling-v1", "provider": "double",
            "request": {"prompt": "x"}, "callback_url": None, "status": "submitted",
            "status_msg": "", "progress": 0, "created_at": 1, "updated_at": 1, "attempts": 0,
            "max_attempts": 2, "run_after": 1, "cancel_requested": False,
        }, max_unfinished=10)

        async def read() -> None:
            await store.get(account.id, task.id)

        rows: list[tuple[str, float]] = [("poll read (TaskStore.get, PostgreSQL)",
                                          await per_request(read, requests))]
        stores: list[tuple[str, object]] = [("PostgreSQL", PostgresBuckets(db))]
        try:
            redis = RedisBuckets(REDIS, "bench")
            await redis.take(0, 1, 1.0, 1.0)
            stores.append(("Redis", redis))
        except Exception as exc:
            print(f"(Redis not measured: {exc})")
        local = RateLimiter(1e9, 10**9)
        rows.append(("check in memory (SQLite, one process)",
                     await per_request(lambda: local.hit(account.id), requests)))
        for label, shared in stores:
            for lease in (1, 5, 10):
                limiter = RateLimiter(1e9, 10**9)
                limiter.share(shared)  # type: ignore[arg-type]
                limiter.lease_size = lease
                rows.append((f"check via {label}, lease {lease}",
                             await per_request(lambda lim=limiter: lim.hit(account.id),
                                               requests)))
            await shared.close()  # type: ignore[attr-defined]
        read_us, local_us = rows[0][1], rows[1][1]
        print(f"{'what':<42} {'us/request':>10} {'poll ratio':>10}")
        for label, us in rows:
            share = (read_us + us) / (read_us + local_us)
            ratio = "" if label.startswith("poll") else f"{share:.2f}"
            print(f"{label:<42} {us:>10.1f} {ratio:>10}")
    finally:
        await db.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    asyncio.run(main(parser.parse_args().requests))
