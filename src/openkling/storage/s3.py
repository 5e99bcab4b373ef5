"""Videos in an S3-compatible bucket (AWS S3, MinIO, R2, …), handed out as presigned URLs.

Uploads go through aiobotocore (async); presigning is pure computation, done with a plain
botocore client so `url_for` stays synchronous and cheap. Credentials come from the usual
AWS sources (environment, shared config, instance roles).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import botocore.session
from aiobotocore.session import get_session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError


class S3Storage:
    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        public_endpoint_url: str | None = None,
        region: str | None = None,
        url_ttl_seconds: int = 86400,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._client_args: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "config": Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        }
        self.location = f"S3 bucket {bucket}" + (f" at {endpoint_url}" if endpoint_url else "")
        self._ttl = url_ttl_seconds
        self._session = get_session()
        # Presigned URLs name the endpoint clients use (which may not be the one we upload to).
        signer_args = {**self._client_args, "endpoint_url": public_endpoint_url or endpoint_url}
        self._signer = botocore.session.get_session().create_client("s3", **signer_args)
        self._lock = asyncio.Lock()
        self._client: Any = None
        self._context: Any = None

    async def _s3(self) -> Any:
        async with self._lock:
            if self._client is None:
                self._context = self._session.create_client("s3", **self._client_args)
                self._client = await self._context.__aenter__()
        return self._client

    def _key(self, key: str) -> str:
        return self.prefix + key

    async def put_file(self, key: str, source: Path, content_type: str = "video/mp4") -> None:
        client = await self._s3()
        body = await asyncio.to_thread(source.read_bytes)
        await client.put_object(
            Bucket=self.bucket, Key=self._key(key), Body=body, ContentType=content_type
        )

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        client = await self._s3()
        await client.put_object(
            Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type
        )

    async def read_bytes(self, key: str) -> bytes:
        client = await self._s3()
        response = await client.get_object(Bucket=self.bucket, Key=self._key(key))
        async with response["Body"] as stream:
            data: bytes = await stream.read()
        return data

    async def delete(self, key: str) -> None:
        client = await self._s3()
        await client.delete_object(Bucket=self.bucket, Key=self._key(key))

    async def exists(self, key: str) -> bool:
        client = await self._s3()
        try:
            await client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    async def probe(self) -> str | None:
        """Put and delete a small object (readiness: the bucket is reachable and writable)."""
        key = self._key(f".openkling-probe/{uuid.uuid4().hex}")
        try:
            client = await self._s3()
            await client.put_object(Bucket=self.bucket, Key=key, Body=b"openkling probe\n")
            await client.delete_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:  # the endpoint answered: refused, or no such bucket
            error = exc.response.get("Error", {})
            return (f"not writable: {self.location} ({error.get('Code', '?')}: "
                    f"{error.get('Message', '')})")[:300]
        except (BotoCoreError, OSError) as exc:
            return f"unreachable: {self.location} ({type(exc).__name__}: {exc})"[:300]
        return None

    def url_for(self, key: str) -> str:
        url: str = self._signer.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self._key(key)},
            ExpiresIn=self._ttl,
        )
        return url

    async def close(self) -> None:
        if self._context is not None:
            await self._context.__aexit__(None, None, None)
            self._client = self._context = None
