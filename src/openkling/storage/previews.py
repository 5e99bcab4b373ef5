"""Where a stored video's previews (thumbnail, spritesheet) live: next to the video, so that
whoever removes a video's files (retention, a delete) removes its previews by the same rule."""

from __future__ import annotations

#: Preview name -> the suffix added to the video's key.
PREVIEW_SUFFIXES = {"thumbnail": ".thumbnail.webp", "spritesheet": ".spritesheet.jpg"}


def preview_key(video_key: str, name: str) -> str:
    return video_key + PREVIEW_SUFFIXES[name]


def preview_keys(video_key: str) -> list[str]:
    return [video_key + suffix for suffix in PREVIEW_SUFFIXES.values()]
