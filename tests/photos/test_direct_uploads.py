"""PHOTO_STORE=s3: the phone sends the bytes to the bucket through a presigned PUT (moto's S3
server on loopback, real HTTP), completes the upload, and reads the photos from the bucket
through redirects; no photo byte ever crosses the app, either way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiobotocore.session import get_session

from server.context import AppContext
from server.photos import queries as photo_queries
from server.photos.worker import processor_for
from tests.photos.camera import camera_photo, plain_image
from tests.photos.moto import ACCESS_KEY, SECRET_KEY, new_bucket
from tests.photos.test_endpoints import detail, processed, staff_with_a_job, upload_url
from tests.problems import assert_problem
from tests.world import World, bearer

SMALL_LIMIT = 400_000


@pytest.fixture
async def settings_overrides(moto_endpoint: str) -> dict[str, Any]:
    bucket = await new_bucket(moto_endpoint)
    return {
        "photo_store": "s3",
        "photo_bucket": bucket.bucket,
        "photo_bucket_endpoint_url": moto_endpoint,
        "photo_bucket_access_key_id": ACCESS_KEY,
        "photo_bucket_secret_access_key": SECRET_KEY,
        "photo_max_bytes": SMALL_LIMIT,
    }


@pytest.fixture(autouse=True)
async def processor(ctx: AppContext) -> AsyncIterator[None]:
    running = processor_for(ctx.settings, ctx.photo_store)
    running.start()
    yield
    await running.stop()


class AppTraffic:
    """Every body sent to the app and every body it answered, as the app client saw them."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.bodies: list[bytes] = []
        client.event_hooks["request"].append(self._sent)
        client.event_hooks["response"].append(self._answered)

    async def _sent(self, request: httpx.Request) -> None:
        self.bodies.append(await request.aread())

    async def _answered(self, response: httpx.Response) -> None:
        self.bodies.append(await response.aread())

    def carried(self, data: bytes) -> bool:
        """Did any body carry a piece of ``data``?"""
        piece = data[len(data) // 2 : len(data) // 2 + 512]
        return any(piece in body for body in self.bodies)

    @property
    def largest(self) -> int:
        return max(len(body) for body in self.bodies)


@pytest.fixture
async def bucket() -> AsyncIterator[httpx.AsyncClient]:
    """The phone's own connection to the bucket: a real HTTP client, not the app's."""
    async with httpx.AsyncClient(timeout=30) as http:
        yield http


async def bucket_keys(ctx: AppContext, prefix: str) -> list[str]:
    settings = ctx.settings
    async with get_session().create_client(
        "s3",
        endpoint_url=settings.photo_bucket_endpoint_url,
        region_name=settings.photo_bucket_region,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    ) as s3:
        listed = await s3.list_objects_v2(Bucket=settings.photo_bucket, Prefix=prefix)
    return [item["Key"] for item in listed.get("Contents", [])]


async def via_redirect(
    client: httpx.AsyncClient, bucket: httpx.AsyncClient, url: str, endpoint: str
) -> httpx.Response:
    """A served photo URL: the app answers with a redirect to the bucket, which has the bytes."""
    answer = await client.get(url)
    assert answer.status_code == 302, answer.text
    assert answer.headers["location"].startswith(endpoint + "/")
    assert not answer.content
    fetched = await bucket.get(answer.headers["location"])
    assert fetched.status_code == 200, fetched.text
    return fetched


async def test_a_photo_goes_to_the_bucket_and_comes_back_from_it_never_through_the_app(
    client: httpx.AsyncClient,
    bucket: httpx.AsyncClient,
    ctx: AppContext,
    world: World,
    moto_endpoint: str,
) -> None:
    traffic = AppTraffic(client)
    job, mine = await staff_with_a_job(ctx, world)
    photo_bytes = camera_photo("JPEG", (1600, 1200))
    asked = await upload_url(client, mine, job["id"])
    assert asked.status_code == 201, asked.text
    grant = asked.json()
    assert grant["uploadUrl"].startswith(moto_endpoint + "/")
    assert grant["uploadHeaders"] == {"Content-Type": "image/jpeg"}

    put = await bucket.put(grant["uploadUrl"], content=photo_bytes, headers=grant["uploadHeaders"])
    assert put.status_code == 200, put.text
    completed = await client.post(grant["completeUrl"])
    repeated = await client.post(grant["completeUrl"])  # the answer was lost: asked again

    assert completed.status_code == 202, completed.text
    assert completed.json() == {"photoId": grant["photoId"], "status": "queued"}
    assert repeated.status_code == 202 and repeated.json()["photoId"] == grant["photoId"]
    photo = await processed(client, mine, job["id"], grant["photoId"])
    assert photo["status"] == "ready" and photo["problem"] is None
    assert (photo["width"], photo["height"]) == (1200, 1600), "upright, read in processing"
    thumb = await via_redirect(client, bucket, photo["thumbnailUrl"], moto_endpoint)
    assert thumb.headers["content-type"] == "image/webp"
    assert "immutable" in thumb.headers["cache-control"]
    office = bearer(ctx.signer, world.dispatcher)
    shown = {p["id"]: p for p in (await detail(client, office, job["id"]))["photos"]}
    original = await via_redirect(
        client, bucket, shown[grant["photoId"]]["originalUrl"], moto_endpoint
    )
    assert original.content == photo_bytes, "the original is kept as sent"
    assert await bucket_keys(ctx, "uploads/") == [], "moved out of the phone's reach"
    assert not traffic.carried(photo_bytes) and traffic.largest < len(photo_bytes) // 4


BAD_OBJECTS = [
    (b"\xff\xd8\xff" + bytes(SMALL_LIMIT), "image/jpeg", 413, "payload_too_large"),
    (b"just some text, no photo", "image/jpeg", 415, "unsupported_photo_type"),
    (plain_image("PNG"), "image/jpeg", 422, "photo_type_mismatch"),
    (b"", "image/jpeg", 422, "photo_corrupt"),
]


@pytest.mark.parametrize(("body", "declared", "status", "code"), BAD_OBJECTS)
async def test_a_bad_object_in_the_bucket_is_refused_at_completion_and_deleted(
    client: httpx.AsyncClient,
    bucket: httpx.AsyncClient,
    ctx: AppContext,
    world: World,
    body: bytes,
    declared: str,
    status: int,
    code: str,
) -> None:
    job, mine = await staff_with_a_job(ctx, world)
    grant = (await upload_url(client, mine, job["id"], contentType=declared)).json()
    put = await bucket.put(grant["uploadUrl"], content=body, headers=grant["uploadHeaders"])
    assert put.status_code == 200, put.text

    assert_problem(await client.post(grant["completeUrl"]), status, code)

    assert await bucket_keys(ctx, "uploads/") == []
    assert await bucket_keys(ctx, "originals/") == []
    assert not await photo_queries.job_photos(job["id"]), "nothing queued"


async def test_completing_before_the_bytes_land_says_so_and_a_cut_off_photo_is_rejected(
    client: httpx.AsyncClient, bucket: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    job, mine = await staff_with_a_job(ctx, world)
    grant = (await upload_url(client, mine, job["id"])).json()
    assert_problem(await client.post(grant["completeUrl"]), 404, "photo_not_found")
    whole = camera_photo("JPEG", (800, 600))

    cut_off = whole[: len(whole) * 2 // 3]
    await bucket.put(grant["uploadUrl"], content=cut_off, headers=grant["uploadHeaders"])
    completed = await client.post(grant["completeUrl"])

    assert completed.status_code == 202, completed.text
    photo = await processed(client, mine, job["id"], grant["photoId"])
    assert photo["status"] == "rejected"
    assert photo["problem"]["code"] == "photo_corrupt"
