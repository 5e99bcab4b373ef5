"""Unit: signed URLs and the local folder."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from openkling.storage.local import LocalStorage
from openkling.storage.signing import UrlSigner


def test_signed_url_verifies_and_expires() -> None:
    signer = UrlSigner(b"k" * 32, "https://videos.example.com/", 3600)
    url = signer.url("videos/1/a.mp4", now=1_000_000)
    parts = urlsplit(url)
    assert parts.path == "/files/videos/1/a.mp4" and parts.netloc == "videos.example.com"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    expires = int(query["expires"])
    assert 1_003_600 <= expires <= 1_003_660
    assert signer.verify("videos/1/a.mp4", expires, query["signature"], now=1_000_000)
    assert not signer.verify("videos/1/b.mp4", expires, query["signature"], now=1_000_000)
    assert not signer.verify("videos/1/a.mp4", expires + 1, query["signature"], now=1_000_000)
    assert not signer.verify("videos/1/a.mp4", expires, query["signature"], now=expires + 1)
    other = UrlSigner(b"j" * 32, "https://videos.example.com", 3600)
    assert not other.verify("videos/1/a.mp4", expires, query["signature"], now=1_000_000)


def test_urls_are_stable_within_a_minute() -> None:
    signer = UrlSigner(b"k" * 32, "http://h", 60)
    assert signer.url("a", now=120.0) == signer.url("a", now=150.0)


async def test_put_and_keys_cannot_escape(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "files", UrlSigner(b"k" * 32, "http://h", 60))
    source = tmp_path / "v.mp4"
    source.write_bytes(b"video")
    await storage.put_file("videos/t/v.mp4", source)
    assert await storage.exists("videos/t/v.mp4")
    assert (tmp_path / "files/videos/t/v.mp4").read_bytes() == b"video"
    await storage.delete("videos/t/v.mp4")
    await storage.delete("videos/t/v.mp4")
    assert not await storage.exists("videos/t/v.mp4")
    for bad in ("../secret.key", "/etc/passwd", "a/../../b", ""):
        with pytest.raises(ValueError):
            storage.path_for(bad)


async def test_bytes_round_trip_for_input_images(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "files", UrlSigner(b"k" * 32, "http://h", 60))
    await storage.put_bytes("inputs/t/image.png", b"\x89PNG...", "image/png")
    assert await storage.read_bytes("inputs/t/image.png") == b"\x89PNG..."
    assert not list((tmp_path / "files/inputs/t").glob("*.partial"))
    with pytest.raises(FileNotFoundError):
        await storage.read_bytes("inputs/t/missing.png")


async def test_delete_removes_the_folders_it_empties_and_nothing_more(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "files", UrlSigner(b"k" * 32, "http://h", 60))
    for key in ("videos/t/a.mp4", "videos/t/b.mp4", "videos/u/c.mp4"):
        await storage.put_bytes(key, b"x", "video/mp4")
    await storage.delete("videos/t/a.mp4")
    assert (tmp_path / "files/videos/t").is_dir()  # b.mp4 is still there
    await storage.delete("videos/t/b.mp4")
    assert not (tmp_path / "files/videos/t").exists()
    assert (tmp_path / "files/videos/u/c.mp4").is_file()
    await storage.delete("videos/u/c.mp4")
    assert (tmp_path / "files").is_dir()  # the root stays, even empty
    await storage.delete("videos/u/c.mp4")  # a missing key is not an error
