"""The object store the settings ask for."""

from __future__ import annotations

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
