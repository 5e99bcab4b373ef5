"""Copying a finished upstream video into our storage, so its URL outlives Kling's 30 days.

The download is streamed to a file (never held in memory), stops at `max_bytes`, and must look
like a video: an ISO-BMFF `ftyp` box (MP4/MOV) or a WebM/Matroska header, and no HTML/JSON
content type (an expired signed URL typically answers with an error page).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import httpx

from openkling.storage.base import Storage

log = logging.getLogger("openkling.providers.kling")

_BAD_TYPES = ("text/", "application/json", "application/xml", "application/xhtml")
_EBML = b"\x1a\x45\xdf\xa3"


class RehostError(Exception):
    """The file is not acceptable (too large, not a video): retrying will not help."""


class RehostTransient(Exception):
    """The download failed in a way a later try may not (network, 5xx)."""


def looks_like_video(head: bytes) -> bool:
    return (len(head) >= 8 and head[4:8] == b"ftyp") or head.startswith(_EBML)


async def download(http: httpx.AsyncClient, url: str, target: Path, *, max_bytes: int,
                   time_limit: float, gate: asyncio.Semaphore | None = None) -> int:
    """Stream `url` into `target`; return its size. Query strings (signatures) are not logged."""
    shown = url.split("?", 1)[0]
    written = 0
    try:
        async with gate or contextlib.nullcontext(), \
                http.stream("GET", url, timeout=time_limit, follow_redirects=True) as response:
            if response.status_code >= 500 or response.status_code == 429:
                raise RehostTransient(f"video download answered HTTP {response.status_code}")
            if response.status_code != 200:
                raise RehostError(f"video download answered HTTP {response.status_code}")
            ctype = response.headers.get("content-type", "").lower()
            if ctype.startswith(_BAD_TYPES):
                raise RehostError(f"upstream video is not a video (content type {ctype})")
            length = response.headers.get("content-length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise RehostError(f"upstream video is larger than {max_bytes} bytes")
            head = b""
            out = await asyncio.to_thread(target.open, "wb")
            try:
                async for chunk in response.aiter_bytes(256 * 1024):
                    written += len(chunk)
                    if written > max_bytes:
                        raise RehostError(f"upstream video is larger than {max_bytes} bytes")
                    if len(head) < 16:
                        head += chunk[: 16 - len(head)]
                    await asyncio.to_thread(out.write, chunk)
            finally:
                await asyncio.to_thread(out.close)
    except httpx.HTTPError as exc:
        raise RehostTransient(f"video download failed ({type(exc).__name__})") from None
    if not looks_like_video(head):
        raise RehostError("upstream file is not a video (no MP4/WebM header)")
    log.debug("downloaded %s (%d bytes)", shown, written)
    return written


async def rehost(http: httpx.AsyncClient, storage: Storage, url: str, *, key: str,
                 work_dir: Path, max_bytes: int, time_limit: float,
                 gate: asyncio.Semaphore | None = None) -> None:
    """Download into a scratch file under `work_dir`, then hand it to storage as `key`."""
    await asyncio.to_thread(work_dir.mkdir, parents=True, exist_ok=True)
    target = work_dir / (key.replace("/", "_") + ".part")
    try:
        await download(http, url, target, max_bytes=max_bytes, time_limit=time_limit,
                       gate=gate)
        await storage.put_file(key, target, "video/mp4")
    finally:
        await asyncio.to_thread(target.unlink, missing_ok=True)
