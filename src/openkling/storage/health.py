"""Can the storage take a video right now? Readiness asks before sending traffic."""

from __future__ import annotations

import asyncio
import errno
import os
import uuid

from openkling.storage.base import Storage
from openkling.storage.local import LocalStorage

#: Below this much free space a render would fail on write: report it before it does.
MIN_FREE_BYTES = 64 * 1024 * 1024


async def storage_problem(storage: Storage, *, min_free: int = MIN_FREE_BYTES) -> str | None:
    """None when a video can be stored; else why not. Local storage writes, syncs and
    removes a small probe file and checks free space; remote storage is not probed (its
    failures surface, and are retried, when a task stores its result)."""
    if not isinstance(storage, LocalStorage):
        return None
    return await asyncio.to_thread(_local_problem, storage, min_free)


def _local_problem(storage: LocalStorage, min_free: int) -> str | None:
    root = storage.root
    probe = root / f".probe-{uuid.uuid4().hex}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as handle:
            handle.write(b"openkling readiness probe\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        return describe_os_error(exc, root)
    finally:
        probe.unlink(missing_ok=True)
    free = os.statvfs(root).f_bavail * os.statvfs(root).f_frsize
    if free < min_free:
        return f"disk full: {free // (1024 * 1024)} MiB free under {root}"
    return None


def describe_os_error(exc: OSError, where: object) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"disk full: no space left under {where}"
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"not writable: {where} ({exc.strerror})"
    return f"storage error under {where}: {exc.strerror or exc}"
