"""Fetching an input image given as a URL, once, at create time.

A client's URL is untrusted: every hop (redirects are followed by hand) passes the same
private-network guard as callback URLs and is connected to at the address that was checked;
the body is streamed and stopped past 10 MB; the whole fetch has one time limit. Any refusal
is 400 / 1201 naming the field, so the client learns at once rather than from a failed task.

Fair between accounts: one account has at most PER_ACCOUNT downloads running at once; its
other creates wait for its own slots, within their own time limit. So an account whose image
URLs never answer makes its own creates wait (and fail after the time limit), never another
account's, which always finds its slots free.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urljoin

import httpx

from openkling.core.errors import KlingError
from openkling.core.fairness import KeyedSlots
from openkling.core.images import MAX_IMAGE_BYTES, InputImage, decode_base64, inspect_image, is_url
from openkling.core.outbound import (
    IMAGE_URLS_SETTING,
    OutboundRefused,
    check_outbound_url,
    pinned_request,
)

MAX_REDIRECTS = 5
#: Image downloads one account may have running at once (per API process).
PER_ACCOUNT = 4


class ImageFetcher:
    """Turns an image field's value (URL or raw base64) into a checked `InputImage`."""

    def __init__(self, http: httpx.AsyncClient, *, allow_private: bool,
                 time_limit: float = 20.0, max_bytes: int = MAX_IMAGE_BYTES,
                 per_account: int = PER_ACCOUNT) -> None:
        self._http = http
        self._allow_private = allow_private
        self._time_limit = time_limit
        self._max_bytes = max_bytes
        #: Downloads running or waiting, by account (None: a caller with no account).
        self.slots = KeyedSlots(per_account)

    async def load(self, field: str, value: str, *, account: int | None = None) -> InputImage:
        if is_url(value):
            data = await self.fetch(field, value.strip(), account=account)
        else:
            data = decode_base64(field, value)
        return await asyncio.to_thread(inspect_image, field, data)  # a full decode

    async def fetch(self, field: str, url: str, *, account: int | None = None,
                    max_bytes: int | None = None, what: str = "image") -> bytes:
        """The body at `url`; waits for one of `account`'s download slots first (the time
        limit covers the wait and the download). Another kind of file (`what`: a video) may
        have its own size limit (`max_bytes`)."""
        limit = self._max_bytes if max_bytes is None else max_bytes
        started = False
        try:
            async with asyncio.timeout(self._time_limit), self.slots.hold(account):
                started = True
                for _ in range(MAX_REDIRECTS + 1):
                    body, next_url = await self._hop(field, url, limit, what)
                    if next_url is None:
                        assert body is not None
                        return body
                    url = next_url
        except TimeoutError:
            if not started:
                raise KlingError.invalid(
                    field, f"{what} download could not start within {self._time_limit:g} s: "
                    f"this account already has {self.slots.per_key} {what} downloads running"
                ) from None
            raise KlingError.invalid(
                field, f"{what} download took longer than {self._time_limit:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise KlingError.invalid(
                field, f"{what} could not be downloaded ({type(exc).__name__})"
            ) from None
        raise KlingError.invalid(field, f"{what} URL redirected more than {MAX_REDIRECTS} "
                                 "times")

    async def _hop(self, field: str, url: str, limit: int,
                   what: str) -> tuple[bytes | None, str | None]:
        """One request: (body, None) at the end, (None, next URL) on a redirect."""
        try:
            address = await check_outbound_url(
                url, allow_private=self._allow_private, setting=IMAGE_URLS_SETTING
            )
        except OutboundRefused as exc:
            raise KlingError.invalid(field, exc.reason) from None
        request_url, headers, extensions = pinned_request(url, address)
        async with self._http.stream("GET", request_url, headers=headers,
                                     extensions=extensions, follow_redirects=False) as response:
            if response.is_redirect and "location" in response.headers:
                return None, urljoin(url, response.headers["location"])
            if response.status_code != 200:
                raise KlingError.invalid(
                    field, f"{what} URL answered HTTP {response.status_code}"
                )
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > limit:
                raise _too_large(field, limit, what)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes(256 * 1024):
                size += len(chunk)
                if size > limit:
                    raise _too_large(field, limit, what)
                chunks.append(chunk)
        return b"".join(chunks), None


def _too_large(field: str, limit: int, what: str) -> KlingError:
    """Images are Kling's 10 MB; another kind of file says its own limit."""
    note = "10 MB" if what == "image" else f"{limit // (1024 * 1024)} MB"
    return KlingError.invalid(field, f"{what} must be at most {limit} bytes ({note})")
