"""Both object stores pass one set of tests; S3 against moto's server on loopback."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.session import get_session
from pydantic import ValidationError

from server.config import Settings
from server.photos.storage.factory import bucket_origins, object_store_for
from server.photos.storage.local import LocalObjectStore
from server.photos.storage.objects import InvalidObjectKey, ObjectStore
from server.photos.storage.s3 import S3ObjectStore
from tests.photos.moto import ACCESS_KEY, SECRET_KEY, new_bucket

ESCAPING_KEYS = [
    "../outside",
    "photos/../../outside",
    "/etc/passwd",
    "photos//double",
    "photos/./here",
    ".hidden",
    "photos/.tmp",
    "",
    "back\\slash",
    "photos/",
    "a" * 600,
]


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    chosen: ObjectStore
    if request.param == "local":
        chosen = LocalObjectStore(tmp_path / "photos")
    else:
        chosen = S3ObjectStore(await new_bucket(request.getfixturevalue("moto_endpoint")))
    yield chosen
    await chosen.close()


async def test_put_then_get_exists_and_delete(store: ObjectStore) -> None:
    key = "jobs/job-1/photo-1/original.jpg"
    await store.put(key, b"\xff\xd8 photo bytes", "image/jpeg")
    assert await store.get(key) == b"\xff\xd8 photo bytes"
    assert await store.exists(key)
    await store.delete(key)
    assert not await store.exists(key)
    assert await store.get(key) is None


async def test_put_replaces_the_whole_object(store: ObjectStore) -> None:
    await store.put("a/b.webp", b"first version, longer", "image/webp")
    await store.put("a/b.webp", b"second", "image/webp")
    assert await store.get("a/b.webp") == b"second"


async def test_missing_keys_read_as_absent_and_delete_quietly(store: ObjectStore) -> None:
    assert await store.get("nothing/here.jpg") is None
    assert not await store.exists("nothing/here.jpg")
    await store.delete("nothing/here.jpg")


async def test_a_prefix_is_not_an_object(store: ObjectStore) -> None:
    await store.put("jobs/job-2/original.heic", b"heic", "image/heic")
    assert await store.get("jobs/job-2") is None
    assert not await store.exists("jobs")


async def test_large_objects_round_trip(store: ObjectStore) -> None:
    data = os.urandom(6 * 1024 * 1024)
    await store.put("big/original.heic", data, "image/heic")
    assert await store.get("big/original.heic") == data


@pytest.mark.parametrize("key", ESCAPING_KEYS)
async def test_keys_that_could_escape_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidObjectKey):
        await store.put(key, b"x", "image/jpeg")
    with pytest.raises(InvalidObjectKey):
        await store.get(key)
    with pytest.raises(InvalidObjectKey):
        await store.exists(key)
    with pytest.raises(InvalidObjectKey):
        await store.delete(key)


async def test_local_writes_land_whole_under_the_root(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "photos")
    await store.put("jobs/j/p.webp", b"variant", "image/webp")
    files = [p for p in (tmp_path / "photos").rglob("*") if p.is_file()]
    assert files == [tmp_path / "photos" / "jobs" / "j" / "p.webp"]  # no temp file left behind
    assert not (tmp_path / "outside").exists()


async def test_local_store_refuses_a_symlink_that_leads_out(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "key").write_bytes(b"secret")
    (root / "link").symlink_to(tmp_path / "secret")
    store = LocalObjectStore(root)
    with pytest.raises(InvalidObjectKey):
        await store.get("link/key")
    with pytest.raises(InvalidObjectKey):
        await store.put("link/planted", b"x", "image/jpeg")
    assert not (tmp_path / "secret" / "planted").exists()


async def test_s3_keeps_the_content_type(moto_endpoint: str) -> None:
    location = await new_bucket(moto_endpoint)
    store = S3ObjectStore(location)
    await store.put("v/display.avif", b"avif", "image/avif")
    await store.close()
    async with get_session().create_client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name=location.region,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    ) as client:
        head = await client.head_object(Bucket=location.bucket, Key="v/display.avif")
    assert head["ContentType"] == "image/avif"


def settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(data_dir=tmp_path, secret_key="x" * 48, _env_file=None, **values)


def test_settings_choose_the_store(tmp_path: Path) -> None:
    local = object_store_for(settings(tmp_path))
    assert isinstance(local, LocalObjectStore)
    assert local.root == tmp_path / "photos"
    s3 = object_store_for(
        settings(
            tmp_path,
            photo_store="s3",
            photo_bucket="tinedy-photos",
            photo_bucket_endpoint_url="http://127.0.0.1:9000",
            photo_bucket_secret_access_key="hidden",
        )
    )
    assert isinstance(s3, S3ObjectStore)
    assert s3.location.bucket == "tinedy-photos"
    assert s3.location.secret_access_key == "hidden"


def test_s3_without_a_bucket_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="PHOTO_BUCKET"):
        settings(tmp_path, photo_store="s3")


async def test_s3_reads_an_objects_start_and_size_and_moves_it_within_the_bucket(
    moto_endpoint: str,
) -> None:
    store = S3ObjectStore(await new_bucket(moto_endpoint))
    data = os.urandom(200_000)
    await store.put("uploads/p.jpg", data, "image/jpeg")
    await store.put("uploads/empty.jpg", b"", "image/jpeg")

    assert await store.read_start("uploads/p.jpg", 16) == (data[:16], len(data))
    assert await store.read_start("uploads/empty.jpg", 16) == (b"", 0)
    assert await store.read_start("uploads/none.jpg", 16) is None
    assert await store.head("uploads/p.jpg") == (len(data), "image/jpeg")
    await store.move("uploads/p.jpg", "originals/p.jpg")

    assert await store.get("originals/p.jpg") == data
    assert not await store.exists("uploads/p.jpg")
    url = await store.download_url("originals/p.jpg", 60, "private, max-age=60")
    assert url is not None and url.startswith(moto_endpoint)
    await store.close()


def test_the_bucket_origins_the_app_shell_must_allow(tmp_path: Path) -> None:
    assert bucket_origins(settings(tmp_path)) == ()
    minio = settings(
        tmp_path,
        photo_store="s3",
        photo_bucket="p",
        photo_bucket_endpoint_url="https://files.example.com:9000/",
    )
    assert bucket_origins(minio) == ("https://files.example.com:9000",)
    aws = settings(
        tmp_path, photo_store="s3", photo_bucket="p", photo_bucket_region="ap-southeast-1"
    )
    assert "https://p.s3.ap-southeast-1.amazonaws.com" in bucket_origins(aws)
