"""Build the configured storage backend."""

from __future__ import annotations

from openkling.config import Settings
from openkling.storage.base import Storage
from openkling.storage.local import LocalStorage
from openkling.storage.signing import UrlSigner


def build_storage(settings: Settings, signing_key: bytes) -> Storage:
    signer = UrlSigner(signing_key, settings.resolved_public_url, settings.url_ttl_seconds)
    return LocalStorage(settings.data_dir / "files", signer)
