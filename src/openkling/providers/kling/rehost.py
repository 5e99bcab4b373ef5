"""Copying a finished upstream result (video or image) into our storage, so its URL outlives
Kling's 30 days.

The download is streamed to a file (never held in memory), stops at `max_bytes`, and must look
like what it claims to be: a video has an ISO-BMFF `ftyp` box (MP4/MOV) or a WebM/Matroska
header, an image a PNG or JPEG signature; and no HTML/JSON content type (an expired signed URL
typically answers with an error page).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from openkling.core.outbound import (
    RELAY_SETTING,
    OutboundRefused,
    check_outbound_url,
    pinned_request,
)
from openkling.errors import OpenKlingError
from openkling.storage.base import Storage

log = logging.getLogger("openkling.providers.kling")

_BAD_TYPES = ("text/", "application/json", "application/xml", "application/xhtml")
_EBML = b"\x1a\x45\xdf\xa3"
_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
_MAX_REDIRECTS = 5
#: What a stored result is called and served as, by kind: extension and content type.
VIDEO = ("mp4", "video/mp4")
PNG = ("png", "image/png")
JPEG = ("jpg", "image/jpeg")
IMAGE_FORMATS = (PNG, JPEG)
MP3 = ("mp3", "audio/mpeg")
WAV = ("wav", "audio/wav")
AUDIO_FORMATS = (MP3, WAV)


class RehostError(OpenKlingError):
    """The file is not acceptable (too large, not a video): retrying will not help."""


class RehostTransient(OpenKlingError):
    """The download failed in a way a later try may not (network, 5xx)."""


def looks_like_video(head: bytes) -> bool:
    return (len(head) >= 8 and head[4:8] == b"ftyp") or head.startswith(_EBML)


def image_format(head: bytes) -> tuple[str, str] | None:
    """(extension, content type) of a PNG or JPEG header, else None."""
    if head.startswith(_PNG):
        return PNG
    if head.startswith(_JPEG):
        return JPEG
    return None


def audio_format(head: bytes) -> tuple[str, str] | None:
    """(extension, content type) of an MP3 (ID3 tag or MPEG frame sync) or WAV header."""
    if head.startswith(b"ID3") or (len(head) >= 2 and head[0] == 0xFF
                                   and head[1] & 0xE0 == 0xE0):
        return MP3
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return WAV
    return None


def _format(kind: str, head: bytes) -> tuple[str, str]:
    """The stored format of a downloaded file of `kind` ("video", "image" or "audio"), or
    RehostError."""
    if kind == "audio":
        found = audio_format(head)
        if found is None:
            raise RehostError("upstream file is not a sound (no MP3/WAV header)")
        return found
    if kind == "image":
        found = image_format(head)
        if found is None:
            raise RehostError("upstream file is not an image (no PNG/JPEG header)")
        return found
    if not looks_like_video(head):
        raise RehostError("upstream file is not a video (no MP4/WebM header)")
    return VIDEO


async def _target(url: str, trusted_hosts: frozenset[str]) -> tuple[str, dict[str, str],
                                                                    dict[str, Any]]:
    """Where to connect for `url`: a configured upstream host as is; any other host only at a
    public address, pinned to the address checked (a video URL comes from the upstream's
    answer and must not reach into our private network)."""
    host = urlsplit(url).hostname or ""
    if host in trusted_hosts:
        return url, {}, {}
    try:
        address = await check_outbound_url(url, allow_private=False, setting=RELAY_SETTING)
    except OutboundRefused as exc:
        raise RehostError(f"refusing to download the video: {exc.reason}") from None
    return pinned_request(url, address)


async def download(http: httpx.AsyncClient, url: str, target: Path, *, max_bytes: int,
                   time_limit: float, gate: asyncio.Semaphore | None = None,
                   trusted_hosts: frozenset[str] = frozenset(),
                   kind: str = "video") -> tuple[str, str]:
    """Stream `url` into `target` within `time_limit` seconds in all; return its stored
    format (extension, content type), checked against `kind`.

    Redirects are followed by hand (at most 5), each hop checked like the first. Query
    strings (signatures) are not logged.
    """
    try:
        async with asyncio.timeout(time_limit), gate or contextlib.nullcontext():
            for _ in range(_MAX_REDIRECTS + 1):
                next_url = await _fetch(http, url, target, max_bytes, trusted_hosts, kind)
                if next_url is None:
                    break
                url = next_url
            else:
                raise RehostError(f"{kind} download redirected too many times")
    except TimeoutError:
        raise RehostTransient(f"{kind} download took longer than {time_limit:g} s") from None
    except httpx.HTTPError as exc:
        raise RehostTransient(f"{kind} download failed ({type(exc).__name__})") from None
    head, written = await asyncio.to_thread(_head, target)
    found = _format(kind, head)
    log.debug("downloaded %s (%d bytes)", url.split("?", 1)[0], written)
    return found


def _head(path: Path) -> tuple[bytes, int]:
    with path.open("rb") as fh:
        return fh.read(16), path.stat().st_size


async def _fetch(http: httpx.AsyncClient, url: str, target: Path, max_bytes: int,
                 trusted_hosts: frozenset[str], kind: str) -> str | None:
    """One hop: the redirect's next URL, or None once the body is in `target`."""
    request_url, headers, extensions = await _target(url, trusted_hosts)
    written = 0
    async with http.stream("GET", request_url, headers=headers, extensions=extensions,
                           follow_redirects=False) as response:
        if response.is_redirect and "location" in response.headers:
            return urljoin(url, response.headers["location"])
        if response.status_code >= 500 or response.status_code == 429:
            raise RehostTransient(f"{kind} download answered HTTP {response.status_code}")
        if response.status_code != 200:
            raise RehostError(f"{kind} download answered HTTP {response.status_code}")
        ctype = response.headers.get("content-type", "").lower()
        if ctype.startswith(_BAD_TYPES):
            raise RehostError(f"upstream {kind} is not a {kind} (content type {ctype})")
        length = response.headers.get("content-length")
        if length and length.isdigit() and int(length) > max_bytes:
            raise RehostError(f"upstream {kind} is larger than {max_bytes} bytes")
        out = await asyncio.to_thread(target.open, "wb")
        try:
            async for chunk in response.aiter_bytes(256 * 1024):
                written += len(chunk)
                if written > max_bytes:
                    raise RehostError(f"upstream {kind} is larger than {max_bytes} bytes")
                await asyncio.to_thread(out.write, chunk)
        finally:
            await asyncio.to_thread(out.close)
    return None


async def rehost(http: httpx.AsyncClient, storage: Storage, url: str, *, stem: str,
                 work_dir: Path, max_bytes: int, time_limit: float,
                 gate: asyncio.Semaphore | None = None,
                 trusted_hosts: frozenset[str] = frozenset(), kind: str = "video") -> str:
    """Download into a scratch file under `work_dir`, then hand it to storage as
    `<stem>.<extension of its format>`; returns that key."""
    await asyncio.to_thread(work_dir.mkdir, parents=True, exist_ok=True)
    target = work_dir / (stem.replace("/", "_") + ".part")
    try:
        extension, content_type = await download(
            http, url, target, max_bytes=max_bytes, time_limit=time_limit, gate=gate,
            trusted_hosts=trusted_hosts, kind=kind,
        )
        key = f"{stem}.{extension}"
        await storage.put_file(key, target, content_type)
        return key
    finally:
        await asyncio.to_thread(target.unlink, missing_ok=True)
