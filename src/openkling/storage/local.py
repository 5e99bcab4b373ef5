"""Videos in a local folder, served by the API under signed URLs."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
from pathlib import Path, PurePosixPath

from openkling.storage.signing import UrlSigner


class LocalStorage:
    def __init__(self, root: Path, signer: UrlSigner) -> None:
        self.root = root.resolve()
        self.signer = signer

    def path_for(self, key: str) -> Path:
        """The file for `key`; refuses keys that would escape the root."""
        parts = PurePosixPath(key).parts
        if not parts or any(p in ("..", "") for p in parts) or PurePosixPath(key).is_absolute():
            raise ValueError(f"invalid storage key {key!r}")
        return self.root.joinpath(*parts)

    async def put_file(self, key: str, source: Path, content_type: str = "video/mp4") -> None:
        target = self.path_for(key)
        await asyncio.to_thread(_move_atomically, source, target)

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(_write_atomically, self.path_for(key), data)

    async def read_bytes(self, key: str) -> bytes:
        return await asyncio.to_thread(self.path_for(key).read_bytes)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._remove, self.path_for(key))

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path_for(key).is_file)

    def url_for(self, key: str) -> str:
        return self.signer.url(key)

    def _remove(self, path: Path) -> None:
        """Unlink, then remove the folders it leaves empty (a task's `videos/<id>/`), so
        retention leaves no empty folder per deleted task behind."""
        path.unlink(missing_ok=True)
        for folder in path.parents:
            if folder == self.root or self.root not in folder.parents:
                return
            try:
                folder.rmdir()
            except OSError:  # not empty (or gone): stop here
                return

    async def close(self) -> None:
        return None


def _move_atomically(source: Path, target: Path) -> None:
    """Rename when source and target share a file system (the usual case: both live in the
    data dir), else copy to a partial file and rename that, so readers never see half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(source, target)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    partial = target.with_name(target.name + ".partial")
    try:
        shutil.copyfile(source, partial)
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)  # a full disk must not keep half a video
        raise


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        partial.write_bytes(data)
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)  # a full disk must not keep a half-written file
        raise
