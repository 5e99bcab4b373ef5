"""Can the storage take a video right now? Readiness asks before sending traffic."""

from __future__ import annotations

import asyncio
import errno
import os
import time
import uuid
import weakref
from dataclasses import dataclass, field

from openkling.storage.base import RemoteStorage, Storage
from openkling.storage.local import LocalStorage

#: Below this much free space a render would fail on write: report it before it does.
MIN_FREE_BYTES = 64 * 1024 * 1024
#: A remote storage that has not answered the probe by then is reported unreachable.
PROBE_TIMEOUT_SECONDS = 3.0
#: A remote probe's answer is reused this long, so that frequent readiness probes stay cheap
#: (and do not each put an object).
PROBE_CACHE_SECONDS = 10.0


@dataclass
class _Recent:
    at: float | None = None
    problem: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


_recent: weakref.WeakKeyDictionary[RemoteStorage, _Recent] = weakref.WeakKeyDictionary()


async def storage_problem(storage: Storage, *, min_free: int = MIN_FREE_BYTES,
                          probe_seconds: float = PROBE_TIMEOUT_SECONDS,
                          cache_seconds: float = PROBE_CACHE_SECONDS) -> str | None:
    """None when a video can be stored; else why not. Local storage writes, syncs and
    removes a small probe file and checks free space; remote storage (S3) puts and deletes a
    small object within `probe_seconds`, at most once per `cache_seconds`."""
    if isinstance(storage, LocalStorage):
        return await asyncio.to_thread(_local_problem, storage, min_free)
    if isinstance(storage, RemoteStorage):
        return await _remote_problem(storage, probe_seconds, cache_seconds)
    return None


async def _remote_problem(storage: RemoteStorage, probe_seconds: float,
                          cache_seconds: float) -> str | None:
    recent = _recent.setdefault(storage, _Recent())
    async with recent.lock:  # readiness probes arriving together share one answer
        if recent.at is not None and time.monotonic() - recent.at < cache_seconds:
            return recent.problem
        try:
            problem = await asyncio.wait_for(storage.probe(), probe_seconds)
        except TimeoutError:
            problem = f"unreachable: {storage.location} did not answer within {probe_seconds:g} s"
        recent.at, recent.problem = time.monotonic(), problem
        return problem


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
