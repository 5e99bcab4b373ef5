"""Build the configured storage backend."""

from __future__ import annotations

from openkling.config import Settings
from openkling.storage.base import Storage
from openkling.storage.local import LocalStorage
from openkling.storage.signing import UrlSigner


def build_storage(settings: Settings, signing_key: bytes) -> Storage:
    if settings.storage == "s3":
        if not settings.s3_bucket:
            raise ValueError("OPENKLING_S3_BUCKET is required when OPENKLING_STORAGE=s3")
        from openkling.storage.s3 import S3Storage

        return S3Storage(
            settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
            public_endpoint_url=settings.s3_public_endpoint_url,
            region=settings.s3_region,
            url_ttl_seconds=settings.url_ttl_seconds,
        )
    signer = UrlSigner(signing_key, settings.resolved_public_url, settings.url_ttl_seconds)
    return LocalStorage(settings.data_dir / "files", signer)
