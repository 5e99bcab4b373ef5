"""The storage probe readiness uses: writable with room, or the reason it is not."""

from __future__ import annotations

import errno
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from openkling.storage.health import describe_os_error, storage_problem
from openkling.storage.local import LocalStorage
from openkling.storage.signing import UrlSigner


def storage_at(root: Path) -> LocalStorage:
    return LocalStorage(root, UrlSigner(b"k" * 32, "http://127.0.0.1:1", 60))


async def test_a_writable_folder_with_room_is_fine(tmp_path: Path) -> None:
    assert await storage_problem(storage_at(tmp_path / "files"), min_free=1) is None
    assert list((tmp_path / "files").iterdir()) == []  # the probe cleans up


async def test_too_little_free_space_is_reported(tmp_path: Path) -> None:
    free = shutil.disk_usage(tmp_path).free
    problem = await storage_problem(storage_at(tmp_path / "files"), min_free=free * 2)
    assert problem is not None and problem.startswith("disk full")


@pytest.fixture
def full_tmpfs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        with open(mount / "filler", "wb", buffering=0) as handle:
            try:
                while True:
                    handle.write(b"\x00" * 4096)
                    handle.flush()
            except OSError:
                pass
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


async def test_a_full_disk_is_reported_as_full(full_tmpfs: Path) -> None:
    problem = await storage_problem(storage_at(full_tmpfs / "files"), min_free=0)
    assert problem is not None and problem.startswith("disk full"), problem


def test_os_errors_are_described_for_operators() -> None:
    assert describe_os_error(OSError(errno.ENOSPC, "x"), "/d").startswith("disk full")
    assert describe_os_error(OSError(errno.EROFS, "Read-only file system"), "/d") == (
        "not writable: /d (Read-only file system)")
