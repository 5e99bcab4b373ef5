"""A create's input images: checked, then stored with the task, so neither a retry nor a
local model ever fetches the client's URL again.

Each image field becomes `inputs/<task id>/<field>.<jpg|png>` in storage; the stored request
keeps `inputs[field] = {key, width, height, content_type}` in its place. An image in a list
of objects (multi-image2video's `image_list[{image}]`) is named `<list>.<index>.<key>`
(`image_list.0.image`), the path a validation error names too. The relay sends the stored
copy upstream as base64, where the client sent it, whether the client gave a URL or base64.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

from openkling.core.families import Family
from openkling.core.image_fetch import ImageFetcher
from openkling.core.images import InputImage
from openkling.storage.base import Storage


def image_values(family: Family, req: BaseModel) -> dict[str, str]:
    """Every image the request sets, by input name: an image field's name, or
    `<list>.<index>.<key>` for one in a list of objects (`Family.image_lists`)."""
    present = {name: value for name in family.image_fields
               if isinstance(value := getattr(req, name, None), str) and value}
    for list_name, key in family.image_lists:
        for index, item in enumerate(getattr(req, list_name, None) or ()):
            value = item.get(key) if isinstance(item, dict) else getattr(item, key, None)
            if isinstance(value, str) and value:
                present[f"{list_name}.{index}.{key}"] = value
    return present


def place_input(body: dict[str, Any], name: str, value: Any) -> None:
    """Put `value` where the input `name` was sent in `body` (see `image_values`): a
    top-level field, or the key of one object in a list (the list and the object copied,
    so a stored request shared with `body` is left as it was)."""
    list_name, _, rest = name.partition(".")
    index, _, key = rest.partition(".")
    if not (index.isdigit() and key):
        body[name] = value
        return
    items = list(body.get(list_name) or [])
    while len(items) <= int(index):
        items.append({})
    item = items[int(index)]
    items[int(index)] = {**(item if isinstance(item, dict) else {}), key: value}
    body[list_name] = items


async def load_images(family: Family, req: BaseModel, fetcher: ImageFetcher, *,
                      account: int | None = None) -> dict[str, InputImage]:
    """Fetch or decode and check every image the request sets (400 / 1201 naming the
    first bad one); URLs are fetched within `account`'s share of the downloads."""
    present = image_values(family, req)
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
