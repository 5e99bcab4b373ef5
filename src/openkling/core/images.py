"""Input images as Kling accepts them: raw base64 or a URL, checked by content.

Kling's rules for every image field (`image`, `image_tail`, reference images): JPEG or PNG
(judged by the bytes, not by a name or a content type), at most 10 MB, both sides at least
300 px, aspect ratio between 1:2.5 and 2.5:1. A failure is 400 / 1201 naming the field and
the rule. Kling refuses a `data:image/...;base64,` prefix; we do too, saying to drop it,
because a relay forwards the value verbatim and the real service would fail it later.

Every image is also decoded in full at create (`Image.load`), so a truncated or corrupt file is
refused here, naming its field, rather than failing in the worker. Before that, its size as the
header states it is held to `MAX_IMAGE_PIXELS`, so a small file that would decode to hundreds of
megabytes (a decompression bomb) is refused without being decoded.
"""

from __future__ import annotations

import binascii
import io
import re
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from openkling.core.errors import KlingError

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MIN_SIDE = 300
#: Longest side over shortest side, either orientation (Kling: 1:2.5 .. 2.5:1).
MAX_ASPECT = 2.5
#: At most 4096 x 4096 pixels (16.8 M; 48 MiB as RGB, 64 MiB as RGBA once decoded). Kling
#: states no pixel limit; this one keeps any 10 MB JPEG/PNG a camera or a 4K frame makes
#: (12 MP phone photos, 3840x2160) while one create cannot make a process decode 88 MP
#: (660 MB) from a 258 KB file. The models render at most 1080p / 2K, so nothing larger helps.
MAX_IMAGE_PIXELS = 4096 * 4096
FORMATS: dict[str, tuple[str, str]] = {"JPEG": ("jpg", "image/jpeg"), "PNG": ("png", "image/png")}

_WHITESPACE = re.compile(rb"\s+")


@dataclass(frozen=True)
class InputImage:
    """A checked input image: its bytes and what the header says about them."""

    data: bytes
    format: str  # "JPEG" | "PNG"
    width: int
    height: int

    @property
    def extension(self) -> str:
        return FORMATS[self.format][0]

    @property
    def content_type(self) -> str:
        return FORMATS[self.format][1]


def is_url(value: str) -> bool:
    return value.lstrip().lower().startswith(("http://", "https://"))


def decode_base64(field: str, value: str) -> bytes:
    """Raw base64 (standard alphabet, padding optional, line breaks allowed) -> bytes."""
    if value.lstrip()[:5].lower() == "data:":
        raise KlingError.invalid(
            field, "send the raw base64 of the image without the 'data:image/...;base64,' "
            "prefix (drop everything up to and including the comma)"
        )
    compact = _WHITESPACE.sub(b"", value.encode("ascii", "replace"))
    if not compact:
        raise KlingError.invalid(field, "must be an image URL or the image's raw base64")
    compact += b"=" * (-len(compact) % 4)
    # Decoded size is 3/4 of the text: refuse an over-long value before decoding it.
    if len(compact) // 4 * 3 > MAX_IMAGE_BYTES + 2:
        raise _too_large(field)
    try:
        return binascii.a2b_base64(compact, strict_mode=True)
    except binascii.Error as exc:
        raise KlingError.invalid(
            field, f"is neither an http(s) URL nor valid base64 ({exc})"
        ) from None


def _too_large(field: str) -> KlingError:
    return KlingError.invalid(field, f"image must be at most 10 MB ({MAX_IMAGE_BYTES} bytes)")


def inspect_image(field: str, data: bytes) -> InputImage:
    """Check `data` against Kling's rules and decode it in full; returns what it is, or raises
    400/1201. CPU-bound (a full decode): call it off the event loop."""
    if len(data) > MAX_IMAGE_BYTES:
        raise _too_large(field)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt, (width, height) = img.format, img.size
                _check_header(field, fmt, width, height)
                _decode(field, img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(field, "") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise KlingError.invalid(field, "is not a JPEG or PNG image") from None
    return InputImage(data=data, format=str(fmt), width=width, height=height)


def _check_header(field: str, fmt: str | None, width: int, height: int) -> None:
    """The rules the header alone decides, before any pixel is decoded."""
    if fmt not in FORMATS:
        raise KlingError.invalid(
            field, f"image format must be JPEG or PNG (jpg/jpeg/png), not {fmt}"
        )
    if width * height > MAX_IMAGE_PIXELS:
        raise _too_many_pixels(field, f" (got {width}x{height})")
    if min(width, height) < MIN_SIDE:
        raise KlingError.invalid(
            field, f"image sides must be at least {MIN_SIDE} px (got {width}x{height})"
        )
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise KlingError.invalid(
            field, f"image aspect ratio must be between 1:2.5 and 2.5:1 (got {width}x{height})"
        )


def _decode(field: str, img: Image.Image) -> None:
    """Decode every pixel: a truncated or corrupt body fails here, naming the field."""
    try:
        img.load()
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise KlingError.invalid(field, f"image cannot be decoded ({exc})") from None


def _too_many_pixels(field: str, got: str) -> KlingError:
    return KlingError.invalid(
        field, f"image must have at most {MAX_IMAGE_PIXELS} pixels (4096x4096){got}"
    )
