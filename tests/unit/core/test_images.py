"""Kling's input-image rules, on both sides of every boundary (jpg/png, 10 MB, 300 px, 2.5:1)."""

from __future__ import annotations

import base64
import dataclasses
import io
import struct
import zlib

import pytest
from PIL import Image, ImageFile

from openkling.core.errors import KlingError
from openkling.core.images import decode_base64, inspect_image, is_url
from tests.support.images import blank_png, truncated_png

#: Kling's "at most 10 MB", read as MiB (the larger reading: a relay must not refuse what
#: Kling may accept).
MAX_IMAGE_BYTES = 10 * 1024 * 1024


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


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_truncated_body_is_refused_at_the_check(fmt: str) -> None:
    data = encode(400, 400, fmt)
    message = refusal("image_tail", data[: len(data) // 2])
    assert message.startswith("image_tail: image cannot be decoded (")
    assert inspect_image("image_tail", data).width == 400


# ----- exact messages and the edges of each rule ----------------------------------------------


def png_of_size(size: int) -> bytes:
    """A valid 300x300 PNG padded to exactly `size` bytes (decoders ignore what follows IEND)."""
    png = encode(300, 300)
    return png + b"\0" * (size - len(png))


def test_a_data_uri_prefix_is_refused_whatever_the_spacing_with_the_whole_advice() -> None:
    text = "  data:image/png;base64," + base64.b64encode(encode(300, 300)).decode()
    with pytest.raises(KlingError) as info:
        decode_base64("image_tail", text)
    assert (info.value.http_status, info.value.code) == (400, 1201)
    assert info.value.message == (
        "image_tail: send the raw base64 of the image without the 'data:image/...;base64,' "
        "prefix (drop everything up to and including the comma)")


@pytest.mark.parametrize("text", ["", " \n\t "])
def test_an_empty_value_is_refused_saying_what_is_expected(text: str) -> None:
    with pytest.raises(KlingError) as info:
        decode_base64("image", text)
    assert info.value.message == "image: must be an image URL or the image's raw base64"


@pytest.mark.parametrize("text", ["not base64 at all!", "aGk=aGk=", "aGk_", "aGé="])
def test_text_outside_strict_base64_is_refused_as_such(text: str) -> None:
    """Characters outside the alphabet, or data after padding, are not skipped over."""
    with pytest.raises(KlingError) as info:
        decode_base64("image", text)
    assert info.value.message.startswith(
        "image: is neither an http(s) URL nor valid base64 (")


@pytest.mark.parametrize("length", [1, 2, 3, 4, 5])
def test_missing_padding_of_any_length_is_restored(length: int) -> None:
    data = bytes(range(length))
    assert decode_base64("image", base64.b64encode(data).decode().rstrip("=")) == data


def test_base64_of_ten_megabytes_is_decoded_and_more_is_refused() -> None:
    at_limit = png_of_size(MAX_IMAGE_BYTES)
    assert decode_base64("image", base64.b64encode(at_limit).decode()) == at_limit
    assert inspect_image("image", decode_base64(
        "image", base64.b64encode(at_limit).decode())).width == 300
    # A few bytes over: refused before decoding, with the size rule.
    with pytest.raises(KlingError) as info:
        decode_base64("image", base64.b64encode(at_limit + b"\0" * 3).decode())
    assert info.value.message == f"image: image must be at most 10 MB ({MAX_IMAGE_BYTES} bytes)"
    # One byte over passes the quick check and is refused by the image check.
    one_over = decode_base64("image", base64.b64encode(at_limit + b"\0").decode())
    assert len(one_over) == MAX_IMAGE_BYTES + 1
    assert refusal("image", one_over) == (
        f"image: image must be at most 10 MB ({MAX_IMAGE_BYTES} bytes)")


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "BMP"])
def test_another_format_is_named_in_the_refusal(fmt: str) -> None:
    assert refusal("image", encode(400, 400, fmt)) == (
        f"image: image format must be JPEG or PNG (jpg/jpeg/png), not {fmt}")


def test_size_and_aspect_refusals_give_the_dimensions() -> None:
    assert refusal("image", encode(299, 400)) == (
        "image: image sides must be at least 300 px (got 299x400)")
    assert refusal("image", encode(751, 300)) == (
        "image: image aspect ratio must be between 1:2.5 and 2.5:1 (got 751x300)")


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares a size and holds no pixels (only its header is read)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_pillows_decompression_bomb_limits_answer_as_too_many_pixels() -> None:
    # Over Pillow's own limit (about 89 M pixels: a warning; twice that: an error).
    for side in (10_000, 20_000):
        assert refusal("image", _png_header(side, side)) == (
            "image: image must have at most 16777216 pixels (4096x4096)")


def test_a_header_without_pixels_is_refused() -> None:
    message = refusal("image", _png_header(3000, 2000))
    assert message.startswith("image: image cannot be decoded (")


@pytest.mark.parametrize("value", ["http://example.com/a.png", "https://e.com/x",
                                   "\n https://e.com/x", "HTTPS://E.COM/X"])
def test_http_and_https_urls_are_urls(value: str) -> None:
    assert is_url(value)


@pytest.mark.parametrize("value", ["ftp://e.com/a.png", "http:/e.com", "httpsx://e.com",
                                   "www.e.com/a.png", "aHR0cDovL2UuY29t"])
def test_other_values_are_not_urls(value: str) -> None:
    assert not is_url(value)


def test_a_checked_image_cannot_be_altered() -> None:
    image = inspect_image("image", encode(300, 300))
    with pytest.raises(dataclasses.FrozenInstanceError):
        image.width = 10_000  # type: ignore[misc]


# ----- the pixel cap, decided from the header before any decoding ------------------------------

#: docs/api.md: at most 4096 x 4096 pixels.
MAX_PIXELS = 4096 * 4096


@pytest.mark.parametrize(("width", "height"), [(4096, 4096), (6400, 2621), (2621, 6400)])
def test_up_to_the_pixel_cap_is_accepted(width: int, height: int) -> None:
    assert width * height <= MAX_PIXELS
    image = inspect_image("image", blank_png(width, height))
    assert (image.width, image.height) == (width, height)


@pytest.mark.parametrize(("width", "height"), [(4096, 4097), (4097, 4096), (10_000, 8_800)])
def test_one_row_over_the_cap_or_88_megapixels_is_refused_undecoded(
    width: int, height: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_decoding(self: object) -> None:
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    assert refusal("image_tail", blank_png(width, height)) == (
        f"image_tail: image must have at most 16777216 pixels (4096x4096) "
        f"(got {width}x{height})")


def test_a_truncated_png_of_any_size_is_refused() -> None:
    assert refusal("image", truncated_png(640, 360)).startswith("image: image cannot be decoded")
