"""A video's thumbnail and spritesheet, made from its own frames (PyAV decodes, Pillow draws).

OpenAI's `GET /videos/{id}/content?variant=thumbnail|spritesheet` serves these. They are made
once, on the first request, from the stored MP4 and kept next to it in storage (the keys are
`store.retention.preview_key`), so retention and DELETE remove them with the video.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from PIL import Image

from openkling.errors import OpenKlingError

#: Frames in a spritesheet (fewer when the video has fewer), laid out row by row.
SPRITE_FRAMES = 16
#: The longer side of one spritesheet cell, in pixels.
SPRITE_CELL = 256
THUMBNAIL_TYPE = "image/webp"
SPRITESHEET_TYPE = "image/jpeg"


class NoFrames(OpenKlingError, ValueError):
    """The stored video could not be decoded or has no frames."""


class PreviewsUnavailable(OpenKlingError):
    """PyAV is not installed (the `previews` extra), so no frame can be decoded."""


@dataclass(frozen=True)
class Previews:
    thumbnail: bytes
    spritesheet: bytes


def make_previews(video: bytes) -> Previews:
    """Decode every frame of `video` (MP4 bytes): the first one becomes the thumbnail, up to
    SPRITE_FRAMES evenly spaced ones the spritesheet. CPU-bound: run it in a thread."""
    frames = _decode(video)
    thumbnail = io.BytesIO()
    frames[0].save(thumbnail, format="WEBP", quality=85)
    picked = _evenly(frames, SPRITE_FRAMES)
    cells = [_cell(frame) for frame in picked]
    width, height = cells[0].size
    columns = math.ceil(math.sqrt(len(cells)))
    rows = math.ceil(len(cells) / columns)
    sheet = Image.new("RGB", (columns * width, rows * height))
    for index, cell in enumerate(cells):
        sheet.paste(cell, ((index % columns) * width, (index // columns) * height))
    spritesheet = io.BytesIO()
    sheet.save(spritesheet, format="JPEG", quality=85)
    return Previews(thumbnail.getvalue(), spritesheet.getvalue())


def _decode(video: bytes) -> list[Image.Image]:
    try:
        import av  # the `previews` extra; imported here so the API starts without it
    except ImportError:
        raise PreviewsUnavailable(
            "thumbnails and spritesheets need PyAV, which this server does not have: install "
            "openkling with the `previews` extra (pip install 'openkling[server,previews]')"
        ) from None

    try:
        with av.open(io.BytesIO(video), mode="r") as container:
            stream = container.streams.video[0]
            frames = [Image.fromarray(frame.to_ndarray(format="rgb24"))
                      for frame in container.decode(stream)]
    except (av.FFmpegError, IndexError) as exc:
        raise NoFrames(f"the stored video cannot be decoded ({exc})") from exc
    if not frames:
        raise NoFrames("the stored video has no frames")
    return frames


def _evenly(frames: list[Image.Image], count: int) -> list[Image.Image]:
    if len(frames) <= count:
        return frames
    step = (len(frames) - 1) / (count - 1)
    return [frames[round(i * step)] for i in range(count)]


def _cell(frame: Image.Image) -> Image.Image:
    scale = SPRITE_CELL / max(frame.size)
    if scale >= 1:
        return frame.convert("RGB")
    size = (max(1, round(frame.width * scale)), max(1, round(frame.height * scale)))
    return frame.convert("RGB").resize(size, Image.Resampling.BILINEAR)
