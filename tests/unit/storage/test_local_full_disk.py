"""A copy into local storage that fails midway (disk full) leaves no partial file."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import pytest

from openkling.storage import local
from openkling.storage.local import LocalStorage
from openkling.storage.signing import UrlSigner


async def test_a_failed_cross_device_copy_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    storage = LocalStorage(tmp_path / "files", UrlSigner(b"k" * 32, "http://127.0.0.1:1", 60))
    source = tmp_path / "video.mp4"
    source.write_bytes(b"\x00" * 4096)

    def cross_device(src: object, dst: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    def copy_until_full(src: Path, dst: Path) -> None:
        Path(dst).write_bytes(b"\x00" * 100)  # some bytes land, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(local.os, "replace", cross_device)
    monkeypatch.setattr(shutil, "copyfile", copy_until_full)
    with pytest.raises(OSError) as info:
        await storage.put_file("videos/1/v.mp4", source)
    assert info.value.errno == errno.ENOSPC
    assert [p.name for p in (tmp_path / "files" / "videos" / "1").iterdir()] == []
