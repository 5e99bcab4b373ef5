"""A create's input images: checked, then stored with the task, so neither a retry nor a
local model ever fetches the client's URL again; and the videos a create names by id.

Each image field becomes `inputs/<task id>/<field>.<jpg|png>` in storage; the stored request
keeps `inputs[field] = {key, width, height, content_type}` in its place. An image in a list
of objects (multi-image2video's `image_list[{image}]`) is named `<list>.<index>.<key>`
(`image_list.0.image`), the path a validation error names too. The relay sends the stored
copy upstream as base64, where the client sent it, whether the client gave a URL or base64.

A video field (`Family.video_fields`: video-extend's `video_id`) names an earlier result of
the same account. It is looked up at create among the account's own succeeded tasks only
(another account's video is not found, as a missing one), and the stored request keeps
`input_videos[field] = {video_id, task_id, duration, key | url}` beside the field itself,
which stays as sent (a relay forwards it; Kling resolves it upstream). The file is not
copied: `key` is the source task's own result, which that task's retention removes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
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


#: The stored request's key for the videos a create names by id (never a client's field).
INPUT_VIDEOS = "input_videos"

#: Looks one video id up among an account's results: (source task id, its video record).
FindVideo = Callable[[str], Awaitable[tuple[str, dict[str, Any]] | None]]


async def find_videos(family: Family, req: BaseModel, find: FindVideo) -> dict[str, Any]:
    """Each video field the request sets, resolved to the account's own video (fields whose
    id is not one of the account's results are left out: the provider decides whether that
    is a refusal)."""
    found: dict[str, Any] = {}
    for name in family.video_fields:
        value = getattr(req, name, None)
        if not isinstance(value, str) or not value:
            continue
        hit = await find(value)
        if hit is None:
            continue
        task_id, video = hit
        entry: dict[str, Any] = {"video_id": value, "task_id": task_id,
                                 "duration": float(video.get("duration") or 0.0)}
        for where in ("storage_key", "url"):
            if video.get(where):
                entry["key" if where == "storage_key" else "url"] = str(video[where])
        found[name] = entry
    return found


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
