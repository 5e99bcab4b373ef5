"""The poll's task lookup on PostgreSQL, in process: SQLAlchemy's async engine (what the poll
used) versus a raw asyncpg pool with its prepared statement, versus the LISTEN/NOTIFY cache.

    python benchmarks/pg_read.py [--lookups 5000] [--concurrency 16]

A fresh database `openkling_pg_read` (dropped afterwards) with one task; each variant does
--lookups lookups of it from --concurrency coroutines after a warm-up. Reported: wall time
and this process's CPU time per lookup (CPU time is what a loaded host pays; the database
server's own CPU is not counted). Variants alternate over --repeats so load drift hits all.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import bindparam, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from openkling.store import migrate
from openkling.store.database import Database
from openkling.store.pgread import PostgresTaskReader
from openkling.store.tables import accounts, tasks

ADMIN = os.environ.get("OPENKLING_BENCH_ADMIN_URL",
                       "postgresql://postgres@127.0.0.1:5432/postgres")
NAME = "openkling_pg_read"
BY_ID = select(tasks).where(tasks.c.id == bindparam("key"),
                            tasks.c.account_id == bindparam("account_id"))



async def timed(lookup: Any, n: int, concurrency: int) -> tuple[float, float]:
    async def worker(count: int) -> None:
        for _ in range(count):
            assert await lookup() is not None
    await worker(50)  # warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(n // concurrency) for _ in range(concurrency)))
    done = (n // concurrency) * concurrency
    return ((time.perf_counter() - wall) / done * 1e6, (time.process_time() - cpu) / done * 1e6)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lookups", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f"DROP DATABASE IF EXISTS {NAME} WITH (FORCE)")
    await admin.execute(f"CREATE DATABASE {NAME}")
    url = ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + "/" + NAME
    db = Database(url)
    try:
        await migrate.upgrade(db)
        async with db.write() as conn:
            account_id = (await conn.execute(insert(accounts).values(
                name="bench", created_at=1, callback_secret_enc=b"x").returning(accounts.c.id)
            )).scalar_one()
            await conn.execute(insert(tasks).values(
                id="1000000000000000001", account_id=account_id, kind="text2video",
                model_name="kling-v1", provider="double", request={"prompt": "x"},
                status="succeed", status_msg="", progress=100,
                result={"videos": [{"id": "v", "storage_key": "k", "duration": 5.0}]},
                created_at=1, updated_at=2, attempts=1, max_attempts=3, run_after=1,
                cancel_requested=False))
        params = {"key": "1000000000000000001", "account_id": account_id}

        async def via_sqlalchemy() -> Any:
            async with db.read() as conn:
                return (await conn.execute(BY_ID, params)).first()

        raw = PostgresTaskReader(url, BY_ID, cache_size=0)
        cached = PostgresTaskReader(url, BY_ID)
        await cached.fetch_task(**params)
        for _ in range(100):
            if cached._listening:
                break
            await asyncio.sleep(0.05)
        variants = {"SQLAlchemy async engine": via_sqlalchemy,
                    "raw asyncpg, prepared": lambda: raw.fetch_task(**params),
                    "LISTEN/NOTIFY cache (hit)": lambda: cached.fetch_task(**params)}
        results: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
        for _ in range(args.repeats):
            for name, lookup in variants.items():
                results[name].append(await timed(lookup, args.lookups, args.concurrency))
        await raw.close()
        await cached.close()
    finally:
        await db.dispose()
        await admin.execute(f"DROP DATABASE IF EXISTS {NAME} WITH (FORCE)")
        await admin.close()
    base = statistics.median(c for _, c in results["SQLAlchemy async engine"])
    print(f"{args.lookups} lookups x {args.repeats}, {args.concurrency} concurrent; median")
    print(f"{'variant':28}{'wall us':>10}{'CPU us':>10}{'CPU vs SQLAlchemy':>19}")
    for name, rows in results.items():
        wall = statistics.median(w for w, _ in rows)
        cpu = statistics.median(c for _, c in rows)
        print(f"{name:28}{wall:10.1f}{cpu:10.1f}{cpu / base:19.3f}")


if __name__ == "__main__":
    asyncio.run(main())
