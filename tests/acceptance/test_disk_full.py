"""The disk under `files/` fills up: the task fails once with a message saying so (no
re-render: retrying cannot make room), no partial file is left, readiness reports the storage,
and with room again the next task succeeds: with the provider double, and with the tiny model
in its real model process (which writes the MP4 itself)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Credentials, ServerFactory, ServerHandle


@contextlib.contextmanager
def tmpfs(folder: Path) -> Iterator[Path]:
    """A 128 MB tmpfs mounted at `folder`, to be filled."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a tmpfs")
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128m", "tmpfs", str(folder)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "server0") as data_dir:  # where server_factory puts its data
        yield data_dir


@pytest.fixture
def database_disk(tmp_path: Path) -> Iterator[Path]:
    """A disk for the SQLite database alone (the server's log stays writable)."""
    with tmpfs(tmp_path / "database") as folder:
        yield folder


def fill(folder: Path) -> Path:
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\x00" * 65536)
    return filler


def wait_terminal(base: str, headers: dict[str, str], task_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while True:
        data = httpx.get(f"{base}/v1/videos/text2video/{task_id}", headers=headers).json()["data"]
        if data["task_status"] in ("succeed", "failed"):
            return dict(data)
        assert time.monotonic() < deadline, data
        time.sleep(0.2)


def fails_once_saying_so(server: ServerHandle, creds: Credentials, database: Path) -> None:
    """Readiness names the full disk; a task fails with a message that says so, after one
    attempt (a retry cannot make room)."""
    ready = httpx.get(f"{server.base_url}/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["storage"].startswith("disk full")
    task_id = httpx.post(f"{server.base_url}/v1/videos/text2video", headers=creds.headers,
                         json={"prompt": "a video with nowhere to go"}).json()["data"]["task_id"]
    task = wait_terminal(server.base_url, creds.headers, task_id)
    assert task["task_status"] == "failed"
    assert "disk is full" in str(task["task_status_msg"]), task
    assert str(server.data_dir) not in str(task["task_status_msg"])  # no server paths
    assert "/files/" not in str(task["task_status_msg"])
    time.sleep(1)  # a retry, if there were one, would have started by now
    with sqlite3.connect(database) as db:
        (attempts,) = db.execute("SELECT attempts FROM tasks WHERE id = ?", (task_id,)).fetchone()
    assert attempts == 1  # rendered once, not retried


def recovers(server: ServerHandle, creds: Credentials, filler: Path) -> None:
    """With room again, readiness is 200 and the next task succeeds."""
    filler.unlink()
    assert httpx.get(f"{server.base_url}/readyz").status_code == 200
    again = httpx.post(f"{server.base_url}/v1/videos/text2video", headers=creds.headers,
                       json={"prompt": "now there is room"}).json()["data"]["task_id"]
    assert wait_terminal(server.base_url, creds.headers, again)["task_status"] == "succeed"


def test_a_full_disk_fails_the_task_once_and_says_so(
    server_factory: ServerFactory, small_disk: Path, tmp_path: Path,
) -> None:
    runs = tmp_path / "runs.log"
    server = server_factory({
        # The database lives elsewhere: this is the storage's disk, not the database's.
        "OPENKLING_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'openkling.db'}",
        "OPENKLING_DOUBLE_LOG": str(runs), "OPENKLING_MAX_ATTEMPTS": "3",
        "OPENKLING_RETRY_BASE_SECONDS": "0.1",
    })
    creds = server.create_key("disk")
    assert httpx.get(f"{server.base_url}/readyz").status_code == 200
    filler = fill(small_disk)
    fails_once_saying_so(server, creds, tmp_path / "openkling.db")
    assert not runs.exists() or runs.read_text() == ""  # no render completed
    leftovers = [p for p in small_disk.rglob("*") if p.is_file()
                 and p != filler and p.name != "secret.key" and p.suffix != ".log"]
    assert leftovers == []
    recovers(server, creds, filler)


def test_a_full_disk_fails_a_real_model_render_once(
    server_factory: ServerFactory, small_disk: Path, tmp_path: Path,
) -> None:
    """The same with the tiny model in its real model process: the MP4 is written by that
    process, into the task's scratch folder on the full disk."""
    server = server_factory({
        "OPENKLING_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'openkling.db'}",
        "OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__MODEL": "tiny-random-wan",
        "OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__DEVICE": "cpu",
        "OPENKLING_MAX_ATTEMPTS": "3", "OPENKLING_RETRY_BASE_SECONDS": "0.1",
    }, provider="diffusers")
    creds = server.create_key("disk")
    filler = fill(small_disk)
    fails_once_saying_so(server, creds, tmp_path / "openkling.db")
    # No partial MP4 in the scratch or the files folder (models/ holds the tiny weights).
    assert [p for folder in ("work", "files") for p in (small_disk / folder).rglob("*")
            if p.is_file()] == []
    recovers(server, creds, filler)


def test_creates_on_a_full_database_disk_log_one_traceback_and_summaries(
    server_factory: ServerFactory, database_disk: Path,
) -> None:
    """Issue 20 (6): 15 creates fail on a full SQLite disk, a successful poll after each. The
    log has one traceback for that cause and summaries counting the other 14, not 15
    tracebacks (a poll used to reset the summary)."""
    server = server_factory({
        "OPENKLING_DATABASE_URL": f"sqlite+aiosqlite:///{database_disk / 'openkling.db'}",
        "OPENKLING_FAILURE_LOG_SECONDS": "1",
    })
    creds = server.create_key("disk")
    poll = f"{server.base_url}/v1/videos/text2video/"
    existing = httpx.post(f"{server.base_url}/v1/videos/text2video", headers=creds.headers,
                          json={"prompt": "before"}).json()["data"]["task_id"]
    assert wait_terminal(server.base_url, creds.headers, existing)["task_status"] == "succeed"
    filler = fill(database_disk)
    statuses = []
    for n in range(15):
        created = httpx.post(f"{server.base_url}/v1/videos/text2video", headers=creds.headers,
                             json={"prompt": f"no room {n}"})
        statuses.append((created.status_code, created.json()["code"]))
        assert httpx.get(poll + existing, headers=creds.headers).status_code == 200
    assert statuses == [(503, 5001)] * 15
    deadline = time.monotonic() + 30
    while (counted := sum(int(n) for n in re.findall(
            r"handling requests still failing \(.*?\): (\d+) more failure", server.log()))) < 14:
        assert time.monotonic() < deadline, server.log()[-3000:]
        httpx.get(poll + existing, headers=creds.headers)  # a success gives summaries a turn
        time.sleep(0.2)
    assert counted == 14
    assert server.log().count("handling requests failed:") == 1
    filler.unlink()
