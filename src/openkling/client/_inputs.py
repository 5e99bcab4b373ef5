"""How an image argument (a file, bytes, a URL or base64) becomes the string Kling takes.

Kling takes an image field as an http(s) URL, which the server fetches, or as raw base64
WITHOUT a `data:image/...;base64,` prefix. Files and bytes are encoded here; a string that is
neither a URL, an existing file nor base64 is refused before any request, naming the field.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from pathlib import Path

from openkling.client._errors import InvalidParameterError

#: What an image argument may be: a path, the image's bytes, an http(s) URL or raw base64.
ImageInput = str | os.PathLike[str] | bytes | bytearray | memoryview

#: Kling's documented limit for an input image.
MAX_IMAGE_BYTES = 10 * 1024 * 1024

#: Shorter strings are read as mistyped paths: no JPEG or PNG encodes to so little base64.
_MIN_BASE64_CHARS = 64
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_DATA_URL = re.compile(r"data:[^,]*;base64,", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")


def _invalid(field: str, reason: str) -> InvalidParameterError:
    return InvalidParameterError(f"{field}: {reason}", code=1201)


def encode_image(field: str, value: ImageInput | None) -> str | None:
    """The wire value of image field `field`; None stays None (the field is not sent)."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return _encode(field, bytes(value), "the image bytes")
    if isinstance(value, os.PathLike):
        return _encode(field, _read(field, Path(value)), os.fspath(value))
    if not isinstance(value, str):
        raise _invalid(field, f"expected a path, bytes, a URL or base64, not "
                              f"{type(value).__name__}")
    text = value.strip()
    if not text:
        raise _invalid(field, "must not be empty")
    if text.lower().startswith(("http://", "https://")):
        return text
    if "://" in text:
        raise _invalid(field, f"only http:// and https:// URLs are accepted (got {text!r})")
    prefix = _DATA_URL.match(text)
    if prefix:  # Kling refuses the data: prefix; what follows it is the base64 it wants
        return _checked_base64(field, text[prefix.end():])
    path = Path(text).expanduser()
    if _exists(path):
        return _encode(field, _read(field, path), text)
    compact = _WHITESPACE.sub("", text)
    if len(compact) >= _MIN_BASE64_CHARS and _BASE64.fullmatch(compact):
        return _checked_base64(field, compact)
    raise _invalid(field, f"no such file: {text!r} (give a JPEG or PNG file, its bytes, an "
                          "http(s) URL or raw base64)")


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a name too long for the file system, a NUL in it
        return False


def _read(field: str, path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_IMAGE_BYTES:
            raise _invalid(field, f"{path} is {size / 1024 / 1024:.1f} MB; Kling takes images "
                                  "of at most 10 MB")
        return path.read_bytes()
    except FileNotFoundError:
        raise _invalid(field, f"no such file: {os.fspath(path)!r}") from None
    except IsADirectoryError:
        raise _invalid(field, f"{os.fspath(path)!r} is a folder, not an image file") from None
    except OSError as exc:
        raise _invalid(field, f"cannot read {os.fspath(path)!r}: {exc.strerror or exc}") from None


def _encode(field: str, data: bytes, what: str) -> str:
    if not data:
        raise _invalid(field, f"{what} is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise _invalid(field, f"{what} is {len(data) / 1024 / 1024:.1f} MB; Kling takes "
                              "images of at most 10 MB")
    return base64.b64encode(data).decode("ascii")


def _checked_base64(field: str, text: str) -> str:
    compact = _WHITESPACE.sub("", text)
    try:
        base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid(field, "is not valid base64") from None
    if not compact:
        raise _invalid(field, "the base64 is empty")
    return compact
