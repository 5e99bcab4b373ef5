"""Kling's input-image rules, on both sides of every boundary (jpg/png, 10 MB, 300 px, 2.5:1)."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from openkling.core.errors import KlingError
from openkling.core.images import (
    MAX_IMAGE_BYTES,
    check_decodes,
    decode_base64,
    inspect_image,
    is_url,
)


def encode(width: int, height: int, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 40)).save(buffer, format=fmt)
    return buffer.getvalue()


def refusal(field: str, data: bytes) -> str:
    with pytest.raises(KlingError) as info:
        inspect_image(field, data)
    assert info.value.code == 1201 and info.value.http_status == 400
    assert info.value.message.startswith(f"{field}: ")
    return info.value.message


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_png_and_jpeg_are_accepted_by_content(fmt: str) -> None:
    image = inspect_image("image", encode(400, 300, fmt))
    assert (image.format, image.width, image.height) == (fmt, 400, 300)
    assert image.extension == {"PNG": "png", "JPEG": "jpg"}[fmt]
    assert image.content_type == {"PNG": "image/png", "JPEG": "image/jpeg"}[fmt]


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "BMP"])
def test_other_image_formats_are_refused_naming_the_rule(fmt: str) -> None:
    assert "JPEG or PNG" in refusal("image_tail", encode(400, 400, fmt))


def test_bytes_that_are_no_image_are_refused() -> None:
    assert "not a JPEG or PNG" in refusal("image", b"<html>expired</html>" * 50)


@pytest.mark.parametrize(("width", "height"), [(300, 300), (300, 750), (750, 300)])
def test_smallest_side_and_widest_aspect_accepted(width: int, height: int) -> None:
    assert inspect_image("image", encode(width, height)).width == width


@pytest.mark.parametrize(("width", "height"), [(299, 400), (400, 299)])
def test_a_side_under_300_px_is_refused(width: int, height: int) -> None:
    assert "at least 300 px" in refusal("image", encode(width, height))


@pytest.mark.parametrize(("width", "height"), [(751, 300), (300, 751)])
def test_aspect_beyond_2_5_is_refused(width: int, height: int) -> None:
    assert "1:2.5 and 2.5:1" in refusal("image", encode(width, height))


def test_ten_megabytes_exactly_is_accepted_one_byte_more_is_not() -> None:
    png = encode(300, 300)
    # Bytes after a PNG's last chunk are ignored by decoders: pad to the limit.
    at_limit = png + b"\0" * (MAX_IMAGE_BYTES - len(png))
    assert inspect_image("image", at_limit).width == 300
    assert "at most 10 MB" in refusal("image", at_limit + b"\0")


def test_raw_base64_decodes_with_or_without_padding_and_line_breaks() -> None:
    png = encode(300, 300)
    text = base64.b64encode(png).decode()
    assert decode_base64("image", text) == png
    assert decode_base64("image", text.rstrip("=")) == png
    assert decode_base64("image", "\n".join(text[i:i + 76] for i in range(0, len(text), 76))) == png


@pytest.mark.parametrize("prefix", ["data:image/png;base64,", "DATA:image/jpeg;base64,"])
def test_a_data_uri_prefix_is_refused_with_advice_to_drop_it(prefix: str) -> None:
    text = prefix + base64.b64encode(encode(300, 300)).decode()
    with pytest.raises(KlingError) as info:
        decode_base64("image", text)
    assert info.value.code == 1201
    assert info.value.message.startswith("image: ") and "without the 'data:" in info.value.message


@pytest.mark.parametrize("text", ["not base64 at all!", "", "   "])
def test_text_that_is_neither_url_nor_base64_is_refused(text: str) -> None:
    with pytest.raises(KlingError) as info:
        decode_base64("image", text)
    assert info.value.code == 1201 and info.value.message.startswith("image: ")


def test_over_long_base64_is_refused_before_decoding() -> None:
    with pytest.raises(KlingError, match="at most 10 MB"):
        decode_base64("image", "A" * (MAX_IMAGE_BYTES // 3 * 4 + 8))


def test_urls_are_told_apart_from_base64() -> None:
    assert is_url("https://example.com/a.png") and is_url(" HTTP://x/y")
    assert not is_url(base64.b64encode(b"http://x").decode())


def test_a_truncated_body_passes_the_header_check_and_fails_decoding() -> None:
    jpeg = encode(400, 400, "JPEG")
    image = inspect_image("image", jpeg[: len(jpeg) // 2])
    with pytest.raises(KlingError, match="cannot be decoded"):
        check_decodes("image", image)
    assert check_decodes("image", inspect_image("image", jpeg)).size == (400, 400)
