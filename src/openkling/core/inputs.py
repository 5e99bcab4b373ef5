"""A create's input images: checked, then stored with the task, so neither a retry nor a
local model ever fetches the client's URL again.

Each image field becomes `inputs/<task id>/<field>.<jpg|png>` in storage; the stored request
keeps `inputs[field] = {key, width, height, content_type}` in its place. The relay sends the
stored copy upstream as base64, whether the client gave a URL or base64.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

from openkling.core.families import Family
from openkling.core.image_fetch import ImageFetcher
from openkling.core.images import InputImage
from openkling.storage.base import Storage


async def load_images(family: Family, req: BaseModel, fetcher: ImageFetcher, *,
                      account: int | None = None) -> dict[str, InputImage]:
    """Fetch or decode and check every image field the request sets (400 / 1201 on the
    first bad one); URLs are fetched within `account`'s share of the downloads."""
    values = {name: getattr(req, name, None) for name in family.image_fields}
    present = {name: value for name, value in values.items() if isinstance(value, str) and value}
    images = await asyncio.gather(*(fetcher.load(name, value, account=account)
                                    for name, value in present.items()))
    return dict(zip(present, images, strict=True))


async def store_images(storage: Storage, task_id: str,
                       images: dict[str, InputImage]) -> dict[str, dict[str, Any]]:
    stored: dict[str, dict[str, Any]] = {}
    for name, image in images.items():
        key = f"inputs/{task_id}/{name}.{image.extension}"
        await storage.put_bytes(key, image.data, image.content_type)
        stored[name] = {"key": key, "width": image.width, "height": image.height,
                        "content_type": image.content_type}
    return stored


async def forget_images(storage: Storage, stored: dict[str, dict[str, Any]]) -> None:
    """Remove stored inputs of a create that did not happen."""
    for meta in stored.values():
        await storage.delete(str(meta["key"]))
