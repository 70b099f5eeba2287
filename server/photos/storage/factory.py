"""The object store the settings ask for."""

from __future__ import annotations

from urllib.parse import urlsplit

from server.config import Settings
from server.photos.storage.local import LocalObjectStore
from server.photos.storage.objects import DirectUploads, ObjectStore
from server.photos.storage.s3 import S3Location, S3ObjectStore


def object_store_for(settings: Settings) -> ObjectStore:
    if settings.photo_store == "s3":
        return S3ObjectStore(
            S3Location(
                bucket=settings.photo_bucket,
                endpoint_url=settings.photo_bucket_endpoint_url,
                region=settings.photo_bucket_region,
                access_key_id=settings.photo_bucket_access_key_id,
                secret_access_key=settings.photo_bucket_secret_access_key.get_secret_value(),
            )
        )
    return LocalObjectStore(settings.photos_dir)


def direct_uploads(store: ObjectStore) -> DirectUploads | None:
    """The store itself when phones upload to it directly (S3), else None (the app takes the
    bytes)."""
    return store if isinstance(store, S3ObjectStore) else None


def bucket_origins(settings: Settings) -> tuple[str, ...]:
    """The origins presigned URLs point at with PHOTO_STORE=s3 (the app shell's Content
    Security Policy must allow them in ``connect-src`` for uploads and ``img-src`` for the
    redirected photos); none with the local store."""
    if settings.photo_store != "s3":
        return ()
    endpoint = urlsplit(settings.photo_bucket_endpoint_url)
    if endpoint.scheme and endpoint.netloc:  # path-style: the endpoint itself
        return (f"{endpoint.scheme}://{endpoint.netloc}",)
    bucket, region = settings.photo_bucket, settings.photo_bucket_region
    return (f"https://{bucket}.s3.amazonaws.com", f"https://{bucket}.s3.{region}.amazonaws.com")
