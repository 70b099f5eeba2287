"""Objects in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2): the store for several instances."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from server.photos.storage.objects import checked_key

if TYPE_CHECKING:
    from aiobotocore.session import ClientCreatorContext
    from types_aiobotocore_s3 import S3Client

MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
MAX_PRESIGNED_SECONDS = 7 * 24 * 3600  # the most a SigV4 presigned URL may live


@dataclass(frozen=True, slots=True)
class S3Location:
    """Where the bucket is and how to sign for it. An empty endpoint means AWS itself; empty
    keys leave botocore to find credentials (an instance role, for one)."""

    bucket: str
    endpoint_url: str = ""
    region: str = "us-east-1"
    access_key_id: str = ""
    secret_access_key: str = ""


class S3ObjectStore:
    """One pooled client, opened on first use and kept until ``close()``."""

    def __init__(self, location: S3Location) -> None:
        self.location = location
        self._exit_stack = AsyncExitStack()
        self._client: S3Client | None = None
        self._opening = asyncio.Lock()

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        client = await self._connected()
        await client.put_object(
            Bucket=self.location.bucket, Key=checked_key(key), Body=data, ContentType=content_type
        )

    async def get(self, key: str) -> bytes | None:
        client = await self._connected()
        try:
            response = await client.get_object(Bucket=self.location.bucket, Key=checked_key(key))
        except ClientError as exc:
            if _is_missing(exc):
                return None
            raise
        async with response["Body"] as body:  # read to the end so the connection is reused
            return await body.read()

    async def exists(self, key: str) -> bool:
        client = await self._connected()
        try:
            await client.head_object(Bucket=self.location.bucket, Key=checked_key(key))
        except ClientError as exc:
            if _is_missing(exc):
                return False
            raise
        return True

    async def delete(self, key: str) -> None:
        client = await self._connected()
        await client.delete_object(Bucket=self.location.bucket, Key=checked_key(key))

    async def download_url(self, key: str, seconds: int, cache_control: str) -> str | None:
        """A presigned GET: the bytes come from the bucket, never through the app."""
        client = await self._connected()
        params = {
            "Bucket": self.location.bucket,
            "Key": checked_key(key),
            "ResponseCacheControl": cache_control,
        }
        return await client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=min(seconds, MAX_PRESIGNED_SECONDS)
        )

    async def upload_url(self, key: str, content_type: str, seconds: int) -> str:
        """A presigned PUT for one object, its ``Content-Type`` signed (the uploader must send
        that type); its size is checked when the upload is completed."""
        client = await self._connected()
        params = {
            "Bucket": self.location.bucket,
            "Key": checked_key(key),
            "ContentType": content_type,
        }
        return await client.generate_presigned_url(
            "put_object", Params=params, ExpiresIn=min(seconds, MAX_PRESIGNED_SECONDS)
        )

    async def head(self, key: str) -> tuple[int, str] | None:
        """The object's size and content type; None when it is missing."""
        client = await self._connected()
        try:
            head = await client.head_object(Bucket=self.location.bucket, Key=checked_key(key))
        except ClientError as exc:
            if _is_missing(exc):
                return None
            raise
        return head["ContentLength"], head.get("ContentType", "")

    async def read_start(self, key: str, size: int) -> tuple[bytes, int] | None:
        """The object's first ``size`` bytes (fewer if it is shorter) and its whole size, in
        one request; None when it is missing."""
        client = await self._connected()
        try:
            response = await client.get_object(
                Bucket=self.location.bucket, Key=checked_key(key), Range=f"bytes=0-{size - 1}"
            )
        except ClientError as exc:
            if _code(exc) == "InvalidRange":  # an empty object has no first byte
                return b"", 0
            if _is_missing(exc):
                return None
            raise
        async with response["Body"] as body:
            data = await body.read()
        whole = response.get("ContentRange", "").rpartition("/")[2]
        return data, int(whole) if whole.isdigit() else len(data)

    async def move(self, source: str, target: str) -> None:
        """Copied inside the bucket (no byte through the app), then the source deleted."""
        client = await self._connected()
        bucket = self.location.bucket
        await client.copy_object(
            Bucket=bucket,
            Key=checked_key(target),
            CopySource={"Bucket": bucket, "Key": checked_key(source)},
        )
        await client.delete_object(Bucket=bucket, Key=source)

    async def close(self) -> None:
        await self._exit_stack.aclose()
        self._client = None

    async def _connected(self) -> S3Client:
        async with self._opening:
            if self._client is None:
                self._client = await self._exit_stack.enter_async_context(self._new_client())
            return self._client

    def _new_client(self) -> ClientCreatorContext[S3Client]:
        where = self.location
        return get_session().create_client(
            "s3",
            endpoint_url=where.endpoint_url or None,
            region_name=where.region,
            aws_access_key_id=where.access_key_id or None,
            aws_secret_access_key=where.secret_access_key or None,
            config=AioConfig(
                # Path-style URLs work on every S3-compatible server; AWS picks its own.
                s3={"addressing_style": "path" if where.endpoint_url else "auto"},
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
            ),
        )


def _is_missing(exc: ClientError) -> bool:
    return _code(exc) in MISSING_CODES


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
