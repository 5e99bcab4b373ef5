"""Where results (videos, images) and tasks' input images live.

Keys are relative paths such as `videos/<task>/<video>.mp4` or `inputs/<task>/image.png`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable


@runtime_checkable
class Storage(Protocol):
    async def put_file(self, key: str, source: Path, content_type: str = "video/mp4") -> None:
        """Store a local file under `key`; the source may be moved (do not reuse it)."""

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        """Store small content (an input image) under `key`."""

    async def read_bytes(self, key: str) -> bytes:
        """The content stored under `key` (small files only: input images, <= 10 MB)."""
        ...

    async def delete(self, key: str) -> None:
        """Remove `key`; a missing key is not an error."""

    async def exists(self, key: str) -> bool:
        ...

    def url_for(self, key: str) -> str:
        """An absolute URL a client can download from (signed and expiring where possible)."""
        ...

    async def close(self) -> None:
        """Release connections."""


@runtime_checkable
class RemoteStorage(Protocol):
    """Storage across a network (S3): readiness asks it to prove it takes an object."""

    #: Where the objects go, for messages (`S3 bucket videos at http://…`).
    location: str

    async def probe(self) -> str | None:
        """Store and remove a small object: None when that worked, else why not."""
        ...
