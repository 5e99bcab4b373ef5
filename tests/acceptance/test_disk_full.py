"""The disk under `files/` fills up: the task fails once with a message saying so (no
re-render: retrying cannot make room), no partial file is left, readiness reports the storage,
and with room again the next task succeeds."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerFactory


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a tmpfs")
    data_dir = tmp_path / "server0"  # where server_factory puts the first server's data
    data_dir.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128m", "tmpfs", str(data_dir)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}")
    yield data_dir
    subprocess.run(["umount", "-l", str(data_dir)], check=False, capture_output=True)


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

    ready = httpx.get(f"{server.base_url}/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["storage"].startswith("disk full")

    task_id = httpx.post(f"{server.base_url}/v1/videos/text2video", headers=creds.headers,
                         json={"prompt": "a video with nowhere to go"}).json()["data"]["task_id"]
    task = wait_terminal(server.base_url, creds.headers, task_id)
    assert task["task_status"] == "failed"
    assert "disk is full" in str(task["task_status_msg"])
    time.sleep(1)  # a retry, if there were one, would have started by now
    assert not runs.exists() or runs.read_text() == ""  # no render completed
    leftovers = [p for p in small_disk.rglob("*") if p.is_file()
                 and p != filler and p.name != "secret.key" and p.suffix != ".log"]
    assert leftovers == []
    with sqlite3.connect(tmp_path / "openkling.db") as db:
        (attempts,) = db.execute("SELECT attempts FROM tasks WHERE id = ?", (task_id,)).fetchone()
    assert attempts == 1  # rendered once, not retried

    filler.unlink()
    assert httpx.get(f"{server.base_url}/readyz").status_code == 200
    again = httpx.post(f"{server.base_url}/v1/videos/text2video", headers=creds.headers,
                       json={"prompt": "now there is room"}).json()["data"]["task_id"]
    assert wait_terminal(server.base_url, creds.headers, again)["task_status"] == "succeed"
