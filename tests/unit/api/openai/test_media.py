"""Thumbnails and spritesheets from a real MP4's frames (tests/data/tiny.mp4)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import av
import pytest
from PIL import Image

from openkling.api.openai.media import NoFrames, PreviewsUnavailable, make_previews

TINY = Path(__file__).resolve().parents[3] / "data" / "tiny.mp4"


def frames() -> list[Image.Image]:
    with av.open(str(TINY)) as container:
        return [Image.fromarray(f.to_ndarray(format="rgb24"))
                for f in container.decode(container.streams.video[0])]


def test_the_thumbnail_is_the_first_frame_and_the_sheet_a_grid_of_frames() -> None:
    decoded = frames()
    previews = make_previews(TINY.read_bytes())
    thumbnail = Image.open(io.BytesIO(previews.thumbnail))
    assert thumbnail.format == "WEBP" and thumbnail.size == decoded[0].size
    # Lossy, but the first frame's mean colour survives.
    first = decoded[0].convert("RGB").resize((1, 1)).getpixel((0, 0))
    got = thumbnail.convert("RGB").resize((1, 1)).getpixel((0, 0))
    assert all(abs(a - b) <= 12 for a, b in zip(first, got, strict=True))  # type: ignore[arg-type]
    sheet = Image.open(io.BytesIO(previews.spritesheet))
    count = min(len(decoded), 16)
    columns = math.ceil(math.sqrt(count))
    width, height = decoded[0].size
    scale = min(1.0, 256 / max(width, height))
    cell = (max(1, round(width * scale)), max(1, round(height * scale)))
    assert sheet.format == "JPEG"
    assert sheet.size == (columns * cell[0], math.ceil(count / columns) * cell[1])


@pytest.mark.parametrize("data", [b"", b"not a video", TINY.read_bytes()[:200]])
def test_bytes_that_are_no_video_say_so(data: bytes) -> None:
    with pytest.raises(NoFrames):
        make_previews(data)


def test_without_pyav_previews_are_refused_naming_the_extra(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The server extra has no PyAV (the `previews` extra has): say what to install."""
    import sys

    monkeypatch.setitem(sys.modules, "av", None)  # `import av` now raises ImportError
    with pytest.raises(PreviewsUnavailable, match=r"openkling\[server,previews\]"):
        make_previews(TINY.read_bytes())
