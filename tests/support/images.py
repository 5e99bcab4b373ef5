"""Input images for the image families' tests: PNG bytes, and a loopback host serving them."""

from __future__ import annotations

import io
import struct
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image


def png(width: int, height: int, color: tuple[int, int, int] = (10, 200, 90)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def truncated_png(width: int, height: int) -> bytes:
    """A real PNG cut in half: its header is whole, its pixels are not."""
    data = png(width, height)
    return data[: len(data) // 2]


def blank_png(width: int, height: int) -> bytes:
    """A complete, valid 1-bit greyscale PNG of `width` x `height` white pixels, built without
    holding the pixels: an 88-megapixel one is a few hundred KB (a decompression bomb)."""
    row = b"\x00" + b"\xff" * ((width + 7) // 8)  # filter type 0, then the packed bits
    squeeze = zlib.compressobj(9)
    rows = 1024
    body = b"".join(squeeze.compress(row * min(rows, height - done))
                    for done in range(0, height, rows)) + squeeze.flush()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload)))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body)
            + chunk(b"IEND", b""))


@contextmanager
def image_host(body: bytes) -> Iterator[str]:
    """Serve `body` as a PNG on a loopback port; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    host = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=host.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{host.server_address[1]}/frame.png"
    finally:
        host.shutdown()
        host.server_close()
