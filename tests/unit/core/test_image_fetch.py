"""Fetching image URLs: the private-network guard on every hop, size and time limits.

A real HTTP server on loopback serves the files. Loopback is itself a private address, so
the tests that need the fetch to go through allow private targets (as an operator can with
OPENKLING_ALLOW_PRIVATE_IMAGE_URLS); the refusals run with the guard on. A redirect from a
public host cannot be served from loopback, so one test puts an httpx transport double in
front of the public literal 8.8.8.8 (no packet leaves the machine).
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from PIL import Image

from openkling.core.errors import KlingError
from openkling.core.image_fetch import ImageFetcher


def png(width: int = 320, height: int = 320) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = png()
BIG = 64 * 1024
TEN_MB = 10 * 1024 * 1024
#: A valid PNG padded to exactly the fetch limit (decoders ignore bytes after IEND).
AT_LIMIT = PNG + b"\0" * (BIG - len(PNG))
#: A limit above the fetcher's read size (256 KiB), so that no single read can exceed it:
#: only the sum of the reads can.
ONE_MB = 1024 * 1024
AT_ONE_MB = PNG + b"\0" * (ONE_MB - len(PNG))
SMALL_CHUNK = 16 * 1024


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path
        if path == "/cat.png":
            self._send(200, PNG, "image/png")
        elif path == "/small.png":
            self._send(200, png(200, 320), "image/png")
        elif path == "/page.html":
            self._send(200, b"<html>not an image</html>" * 20, "text/html")
        elif path == "/huge-declared":
            self._send(200, b"\0" * (BIG + 1), "image/png")
        elif path == "/huge-chunked":
            self._chunked([b"\0" * (BIG // 2)] * 4)
        elif path in ("/ten-mb", "/ten-mb-and-one"):
            size = TEN_MB + (path == "/ten-mb-and-one")
            self._send(200, PNG + b"\0" * (size - len(PNG)), "image/png")
        elif path == "/at-limit":
            self._send(200, AT_LIMIT, "image/png")
        elif path == "/at-limit-chunked":
            self._chunked([AT_LIMIT[: BIG // 2], AT_LIMIT[BIG // 2:]])
        elif path in ("/one-mb-in-small-chunks", "/one-mb-and-one-in-small-chunks"):
            body = AT_ONE_MB + b"\0" * (path == "/one-mb-and-one-in-small-chunks")
            self._chunked([body[i:i + SMALL_CHUNK] for i in range(0, len(body), SMALL_CHUNK)])
        elif path == "/over-limit-chunked":
            self._chunked([AT_LIMIT[: BIG // 2], AT_LIMIT[BIG // 2:], b"\0"])
        elif path.startswith("/hops/"):  # /hops/N: N redirects, then the image
            left = int(path.rsplit("/", 1)[1])
            if left:
                self._redirect(f"/hops/{left - 1}")
            else:
                self._send(200, PNG, "image/png")
        elif path == "/endless":  # a burst past the limit, then a slow drip that never ends
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for index in range(100):
                    chunk = b"\0" * (BIG if index < 4 else 1)
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.flush()
                    if index >= 4:
                        time.sleep(0.1)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading, as it should
        elif path == "/located":  # a Location header on a 200 is no redirect
            self.send_response(200)
            self.send_header("Location", "/gone")
            self.send_header("Content-Length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG)
        elif path == "/no-location":
            self.send_response(302)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/slow":
            time.sleep(1.5)
            self._send(200, PNG, "image/png")
        elif path == "/hop":
            self._redirect("/cat.png")
        elif path == "/loop":
            self._redirect("/loop")
        elif path == "/gone":
            self._send(404, b"no", "text/plain")
        else:
            self._send(500, b"?", "text/plain")

    def _chunked(self, chunks: list[bytes]) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as the time-limit test makes it


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def load(url: str, *, allow_private: bool = True, time_limit: float = 5.0,
               transport: httpx.AsyncBaseTransport | None = None) -> bytes:
    async with httpx.AsyncClient(transport=transport) as http:
        fetcher = ImageFetcher(http, allow_private=allow_private, time_limit=time_limit,
                               max_bytes=BIG)
        return (await fetcher.load("image", url)).data


async def refused(url: str, **kwargs: object) -> str:
    with pytest.raises(KlingError) as info:
        await load(url, **kwargs)  # type: ignore[arg-type]
    assert info.value.code == 1201 and info.value.http_status == 400
    assert info.value.message.startswith("image: ")
    return info.value.message


async def test_a_url_is_fetched_and_checked(base_url: str) -> None:
    assert await load(f"{base_url}/cat.png") == PNG


async def test_redirects_are_followed_hop_by_hop(base_url: str) -> None:
    assert await load(f"{base_url}/hop") == PNG


async def test_private_addresses_are_refused_with_the_guard_on(base_url: str) -> None:
    message = await refused(f"{base_url}/cat.png", allow_private=False)
    assert "private or reserved address" in message
    assert "OPENKLING_ALLOW_PRIVATE_IMAGE_URLS" in message


async def test_a_redirect_from_a_public_host_to_a_private_one_is_refused() -> None:
    seen: list[str] = []

    def public_host_double(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://127.0.0.1:9/cat.png"})

    message = await refused("http://8.8.8.8/start.png", allow_private=False,
                            transport=httpx.MockTransport(public_host_double))
    assert seen == ["http://8.8.8.8/start.png"]
    assert "127.0.0.1" in message and "private" in message


async def test_too_large_declared_or_streamed_is_refused(base_url: str) -> None:
    assert f"at most {BIG} bytes" in await refused(f"{base_url}/huge-declared")
    assert f"at most {BIG} bytes" in await refused(f"{base_url}/huge-chunked")


async def test_not_an_image_is_refused(base_url: str) -> None:
    assert "not a JPEG or PNG" in await refused(f"{base_url}/page.html")


async def test_a_fetched_image_obeys_the_same_rules(base_url: str) -> None:
    assert "at least 300 px" in await refused(f"{base_url}/small.png")


async def test_error_statuses_loops_and_slow_servers_are_refused(base_url: str) -> None:
    assert "HTTP 404" in await refused(f"{base_url}/gone")
    assert "redirected more than 5 times" in await refused(f"{base_url}/loop")
    assert "longer than 0.5 s" in await refused(f"{base_url}/slow", time_limit=0.5)


async def test_unreachable_host_is_refused() -> None:
    message = await refused("http://127.0.0.1:9/cat.png")
    assert "could not be downloaded" in message


async def test_exactly_the_size_limit_is_fetched_declared_or_streamed(base_url: str) -> None:
    assert await load(f"{base_url}/at-limit") == AT_LIMIT
    assert await load(f"{base_url}/at-limit-chunked") == AT_LIMIT


async def test_one_byte_over_the_limit_is_refused_while_streaming(base_url: str) -> None:
    assert await refused(f"{base_url}/over-limit-chunked") == (
        f"image: image must be at most {BIG} bytes (10 MB)")


async def test_five_redirects_are_followed_and_a_sixth_is_refused(base_url: str) -> None:
    assert await load(f"{base_url}/hops/5") == PNG
    assert await refused(f"{base_url}/hops/6") == "image: image URL redirected more than 5 times"


async def test_a_redirect_without_a_location_is_an_error_status(base_url: str) -> None:
    assert await refused(f"{base_url}/no-location") == "image: image URL answered HTTP 302"


async def test_spaces_around_a_url_are_ignored(base_url: str) -> None:
    assert await load(f"  {base_url}/cat.png\n") == PNG


async def test_refusals_say_exactly_why(base_url: str) -> None:
    assert await refused(f"{base_url}/gone") == "image: image URL answered HTTP 404"
    assert await refused("http://127.0.0.1:9/cat.png") == (
        "image: image could not be downloaded (ConnectError)")
    assert await refused(f"{base_url}/slow", time_limit=0.5) == (
        "image: image download took longer than 0.5 s")


async def test_by_default_ten_megabytes_are_fetched_and_one_byte_more_is_not(
    base_url: str,
) -> None:
    async with httpx.AsyncClient() as http:
        fetcher = ImageFetcher(http, allow_private=True)
        assert len((await fetcher.load("image", f"{base_url}/ten-mb")).data) == TEN_MB
        with pytest.raises(KlingError) as info:
            await fetcher.load("image", f"{base_url}/ten-mb-and-one")
    assert info.value.message == f"image: image must be at most {TEN_MB} bytes (10 MB)"


async def test_a_body_is_cut_off_past_the_limit_without_waiting_for_its_end(
    base_url: str,
) -> None:
    assert await refused(f"{base_url}/endless", time_limit=5.0) == (
        f"image: image must be at most {BIG} bytes (10 MB)")


async def test_a_location_header_on_a_200_is_not_followed(base_url: str) -> None:
    assert await load(f"{base_url}/located") == PNG


async def test_the_streamed_size_is_the_sum_of_every_chunk(base_url: str) -> None:
    """1 MB + 1 byte in 16 KiB chunks: each read is far below the limit, their sum is not."""
    async with httpx.AsyncClient() as http:
        fetcher = ImageFetcher(http, allow_private=True, max_bytes=ONE_MB)
        fetched = await fetcher.load("image", f"{base_url}/one-mb-in-small-chunks")
        assert fetched.data == AT_ONE_MB
        with pytest.raises(KlingError) as info:
            await fetcher.load("image", f"{base_url}/one-mb-and-one-in-small-chunks")
    assert info.value.message == f"image: image must be at most {ONE_MB} bytes (10 MB)"


async def test_a_video_has_its_own_limit_and_says_what_it_is(base_url: str) -> None:
    """multi-elements' video_url: the same guarded fetch, its own size limit and wording."""
    async with httpx.AsyncClient() as http:
        fetcher = ImageFetcher(http, allow_private=True)
        fetched = await fetcher.fetch("video_url", f"{base_url}/one-mb-in-small-chunks",
                                      max_bytes=ONE_MB, what="video")
        assert fetched == AT_ONE_MB
        with pytest.raises(KlingError) as info:
            await fetcher.fetch("video_url", f"{base_url}/one-mb-and-one-in-small-chunks",
                                max_bytes=ONE_MB, what="video")
    assert info.value.message == f"video_url: video must be at most {ONE_MB} bytes (1 MB)"


async def test_an_account_with_its_slots_taken_waits_and_others_do_not(base_url: str) -> None:
    async with httpx.AsyncClient() as http:
        fetcher = ImageFetcher(http, allow_private=True, time_limit=0.3, per_account=1)
        async with fetcher.slots.hold(7):  # account 7's one download is running
            assert (await fetcher.load("image", f"{base_url}/cat.png", account=8)).data == PNG
            with pytest.raises(KlingError) as info:
                await fetcher.load("image", f"{base_url}/cat.png", account=7)
        assert info.value.message == (
            "image: image download could not start within 0.3 s: this account already has "
            "1 image downloads running")
        assert (await fetcher.load("image", f"{base_url}/cat.png", account=7)).data == PNG
