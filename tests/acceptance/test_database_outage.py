"""The database goes away under create + poll load and comes back: every acknowledged task
reaches a terminal state without restarting openkling, none twice, within lease + 30 s of
the database's return.

- PostgreSQL crashes (`pg_ctl stop -m immediate`), with the embedded worker and with an API
  process plus two `openkling worker`s. The cluster is the test's own (tests/support/pgcluster).
- SQLite: the data dir becomes read-only (a read-only bind mount over it), then writable.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, ServerFactory, free_port
from tests.support.pgcluster import PgCluster

LEASE = 10.0
ENV = {
    "OPENKLING_LEASE_SECONDS": str(LEASE),
    "OPENKLING_HEARTBEAT_SECONDS": "2",
    "OPENKLING_RATE_LIMIT_PER_SECOND": "10000",
    "OPENKLING_RATE_LIMIT_BURST": "10000",
    "OPENKLING_MAX_UNFINISHED_TASKS": "100000",
    "OPENKLING_MAX_ATTEMPTS": "3",
}


@dataclass
class Load:
    """Creates tasks and polls them from a thread, as clients would, through the outage."""

    base_url: str
    headers: dict[str, str]
    callback_url: str
    acknowledged: list[str] = field(default_factory=list)
    refused: Counter[int] = field(default_factory=Counter)
    polls: Counter[int] = field(default_factory=Counter)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, headers=self.headers, timeout=10) as client:
            i = 0
            while not self.stop.is_set():
                i += 1
                try:
                    response = client.post("/v1/videos/text2video", json={
                        "prompt": f"clip {i} [sleep=0.3]", "callback_url": self.callback_url})
                except httpx.HTTPError:
                    self.refused[0] += 1
                else:
                    if response.status_code == 200:
                        self.acknowledged.append(response.json()["data"]["task_id"])
                    else:
                        self.refused[response.status_code] += 1
                if self.acknowledged:
                    try:
                        poll = client.get(
                            f"/v1/videos/text2video/{random.choice(self.acknowledged)}")
                        self.polls[poll.status_code] += 1
                    except httpx.HTTPError:
                        self.polls[0] += 1
                time.sleep(0.05)


def wait_terminal(base_url: str, headers: dict[str, str], ids: list[str],
                  deadline: float) -> tuple[dict[str, str], float]:
    """Poll until every task is terminal; returns the statuses and when that happened."""
    pending = set(ids)
    final: dict[str, str] = {}
    with httpx.Client(base_url=base_url, headers=headers, timeout=10) as client:
        while pending and time.monotonic() < deadline:
            for task_id in list(pending):
                try:
                    data = client.get(f"/v1/videos/text2video/{task_id}").json()["data"]
                except (httpx.HTTPError, KeyError, TypeError):
                    continue
                if data and data["task_status"] in ("succeed", "failed"):
                    final[task_id] = data["task_status"]
                    pending.discard(task_id)
            time.sleep(0.2)
    return final, time.monotonic()


def sqlite_transitions(db: Path) -> Counter[str]:
    with sqlite3.connect(db) as conn:
        return Counter(task_id for (task_id,) in conn.execute(
            "SELECT task_id FROM callback_deliveries WHERE payload LIKE '%\"succeed\"%' "
            "OR payload LIKE '%\"failed\"%'"))


def terminal_transitions(cluster: PgCluster) -> Counter[str]:
    import asyncpg

    async def query() -> list[str]:
        conn = await asyncpg.connect(cluster.url.replace("+asyncpg", ""))
        try:
            rows = await conn.fetch(
                "SELECT task_id FROM callback_deliveries WHERE payload LIKE '%\"succeed\"%' "
                "OR payload LIKE '%\"failed\"%'")
        finally:
            await conn.close()
        return [row["task_id"] for row in rows]

    return Counter(asyncio.run(query()))


def outage(server_factory: ServerFactory, cluster: PgCluster, tmp_path: Path, seconds: float,
           workers: int) -> float:
    def down() -> None:
        cluster.stop_immediately()

    def up() -> None:
        cluster.start()
        cluster.wait_ready()

    return run_outage(server_factory, {"OPENKLING_DATABASE_URL": cluster.url}, tmp_path,
                      seconds, workers, down, up, lambda _: terminal_transitions(cluster))


def run_outage(server_factory: ServerFactory, extra_env: dict[str, str], tmp_path: Path,
               seconds: float, workers: int, down: Callable[[], None], up: Callable[[], None],
               transitions: Callable[[Path], Counter[str]], *,
               renders_fail_on_full_disk: bool = False) -> float:
    env = {**ENV, **extra_env}
    if workers:
        env["OPENKLING_EMBEDDED_WORKER"] = "false"
    server = server_factory(env)
    creds = server.create_key("outage")
    procs = [subprocess.Popen([sys.executable, "-m", "openkling.cli.main", "worker"],
                              env=server.env, cwd=ROOT,
                              stdout=open(tmp_path / f"worker{i}.log", "wb"),
                              stderr=subprocess.STDOUT)
             for i in range(workers)]
    deadline = time.monotonic() + 60
    while workers and not all(" started (providers: " in (tmp_path / f"worker{i}.log").read_text()
                              for i in range(workers)):
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.2)
    load = Load(server.base_url, creds.headers, f"http://127.0.0.1:{free_port()}/hook")
    thread = threading.Thread(target=load.run, daemon=True)
    try:
        thread.start()
        time.sleep(3)
        down()
        outage_ends = time.monotonic() + seconds
        readiness = []
        while time.monotonic() < outage_ends:
            try:
                readiness.append(httpx.get(f"{server.base_url}/readyz", timeout=2).status_code)
            except httpx.HTTPError:
                readiness.append(0)
            time.sleep(0.5)
        assert 503 in readiness, f"readiness never said so during the outage: {readiness}"
        up()
        back = time.monotonic()
        time.sleep(3)
        load.stop.set()
        thread.join(30)
        assert len(load.acknowledged) >= 10, (load.acknowledged, load.refused)
        final, done = wait_terminal(server.base_url, creds.headers, load.acknowledged,
                                    deadline=back + LEASE + 30)
        missing = sorted(set(load.acknowledged) - set(final))
        assert not missing, f"{len(missing)} task(s) not terminal within lease + 30 s"
        if renders_fail_on_full_disk:
            # A render that needed the full disk fails once, saying so (test_disk_full.py);
            # the others, and every task created after, succeed.
            assert "succeed" in final.values()
        else:
            assert Counter(final.values()) == Counter({"succeed": len(load.acknowledged)})
        assert server.process is not None and server.process.poll() is None  # no restart
        assert all(proc.poll() is None for proc in procs)
        twice = {task: n for task, n in transitions(server.data_dir).items() if n > 1}
        assert twice == {}, f"tasks finished more than once: {twice}"
        recovery = done - back
        print(f"\n{seconds:g} s outage, {workers or 'embedded'} worker(s): "
              f"{len(load.acknowledged)} tasks acknowledged ({dict(Counter(final.values()))}), "
              f"refused {dict(load.refused)}, "
              f"polls {dict(load.polls)}; all terminal {recovery:.1f} s after the database "
              "returned")
        return recovery
    finally:
        load.stop.set()
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_five_second_outage_with_the_embedded_worker(
    server_factory: ServerFactory, cluster: PgCluster, tmp_path: Path,
) -> None:
    outage(server_factory, cluster, tmp_path, 5, workers=0)


def test_five_second_outage_with_two_workers(
    server_factory: ServerFactory, cluster: PgCluster, tmp_path: Path,
) -> None:
    outage(server_factory, cluster, tmp_path, 5, workers=2)


@pytest.mark.slow
def test_thirty_second_outage_with_the_embedded_worker(
    server_factory: ServerFactory, cluster: PgCluster, tmp_path: Path,
) -> None:
    outage(server_factory, cluster, tmp_path, 30, workers=0)


@pytest.mark.slow
def test_thirty_second_outage_with_two_workers(
    server_factory: ServerFactory, cluster: PgCluster, tmp_path: Path,
) -> None:
    outage(server_factory, cluster, tmp_path, 30, workers=2)


def test_sqlite_data_dir_full_for_five_seconds(
    server_factory: ServerFactory, tmp_path: Path,
) -> None:
    """The data dir (database, files) on a small tmpfs that fills up, then has room again.

    (A read-only remount would be the other fault, but the kernel refuses it with EBUSY while
    SQLite holds its files open for writing; a bind mount over the folder leaves open files
    writable. A full disk is what operators meet, and fails the same writes.)
    """
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a tmpfs")
    data_dir = tmp_path / "server0"  # where server_factory puts the first server's data
    data_dir.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128m", "tmpfs", str(data_dir)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}")
    filler = data_dir / "filler"

    def down() -> None:
        with open(filler, "wb", buffering=0) as handle:
            with contextlib.suppress(OSError):
                while True:
                    handle.write(b"\x00" * 65536)

    def up() -> None:
        filler.unlink()

    try:
        run_outage(server_factory, {}, tmp_path, 5, 0, down, up,
                   lambda data: sqlite_transitions(data / "openkling.db"),
                   renders_fail_on_full_disk=True)
    finally:
        subprocess.run(["umount", "-l", str(data_dir)], check=False, capture_output=True)
