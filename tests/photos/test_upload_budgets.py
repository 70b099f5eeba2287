"""The uploads budget of a photo's signed upload URL is its device's and person's (the URL names
them), not its network's: phones behind one address (a carrier's NAT) each upload up to their
own budget, one past it gets 429 with the RateLimit fields, and a fleet on one address replays
a day of photos with no 429, with the local store and with a bucket (moto on loopback). A URL
made before grants named a device still reads."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from itsdangerous import URLSafeSerializer

from server.context import AppContext
from server.photos.links import PhotoLinks
from tests.phones import new_id
from tests.photos.camera import plain_image
from tests.photos.moto import ACCESS_KEY, SECRET_KEY, new_bucket
from tests.photos.test_endpoints import upload_url
from tests.problems import assert_problem
from tests.world import World, add_jobs, add_staff, bearer

BUDGETS = {"rate_limit_uploads": "4 per hour"}  # an hour: a test never straddles two windows
POLICY = '"uploads";q=4;w=3600, "uploads-user";q=8;w=3600'
PHOTO = plain_image("JPEG")


@pytest.fixture
def store() -> str:
    return "local"


@pytest.fixture
async def settings_overrides(store: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    if store == "local":
        return {}
    endpoint = request.getfixturevalue("moto_endpoint")
    bucket = await new_bucket(endpoint)
    return {
        "photo_store": "s3",
        "photo_bucket": bucket.bucket,
        "photo_bucket_endpoint_url": endpoint,
        "photo_bucket_access_key_id": ACCESS_KEY,
        "photo_bucket_secret_access_key": SECRET_KEY,
    }


@pytest.fixture
async def bucket() -> AsyncIterator[httpx.AsyncClient]:
    """The phone's own connection to the bucket, which is not the app."""
    async with httpx.AsyncClient(timeout=30) as http:
        yield http


def left(answer: httpx.Response, name: str) -> int:
    found = re.search(rf'"{name}";r=(\d+);t=\d+', answer.headers["ratelimit"])
    assert found is not None, answer.headers["ratelimit"]
    return int(found.group(1))


async def send_photo(
    client: httpx.AsyncClient,
    bucket: httpx.AsyncClient,
    headers: dict[str, str],
    job_id: str,
    photo: bytes,
) -> list[httpx.Response]:
    """One photo as the app sends it: its upload URL, its bytes (to the app, or to the bucket
    and then the completion to the app); the app's answers."""
    asked = await upload_url(client, headers, job_id)
    if asked.status_code != 201:
        return [asked]
    grant = asked.json()
    if grant["completeUrl"] is None:
        put = await client.put(grant["uploadUrl"], content=photo, headers=grant["uploadHeaders"])
        return [asked, put]
    put = await bucket.put(grant["uploadUrl"], content=photo, headers=grant["uploadHeaders"])
    assert put.status_code == 200, put.text
    return [asked, await client.post(grant["completeUrl"])]


@pytest.mark.parametrize("settings_overrides", [BUDGETS], ids=["4-an-hour"])
async def test_phones_on_one_address_each_spend_their_own_upload_budget(
    client: httpx.AsyncClient, bucket: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    """Three phones of two people on one address: each sends two photos (four requests, its
    whole budget) with no 429; one past its budget is refused, and so is a third phone of a
    person whose two phones spent that person's budget."""
    somchai, malee = await add_staff(world), await add_staff(world)
    phones = [(somchai, bearer(ctx.signer, somchai)) for _ in range(2)]
    phones.append((malee, bearer(ctx.signer, malee)))
    sent = []
    for person, phone in phones:
        job = (await add_jobs(person, 1))[0]
        for n in range(2):
            answers = await send_photo(client, bucket, phone, job["id"], PHOTO + bytes([n]))
            assert [a.status_code for a in answers] == [201, 202], answers[-1].text
            assert answers[1].headers["ratelimit-policy"] == POLICY
            sent.append(answers)
    assert [left(put, "uploads") for _, put in sent] == [2, 0] * 3
    assert [left(put, "uploads-user") for _, put in sent] == [6, 4, 2, 0, 6, 4]

    last = sent[1][0].json()  # the first phone's last photo, its answer lost: sent again
    again = await client.put(
        last["uploadUrl"], content=PHOTO + b"\1", headers=last["uploadHeaders"]
    )
    assert_problem(again, 429, "rate_limited")
    assert again.headers["ratelimit-policy"] == POLICY
    assert left(again, "uploads") == 0 and 0 < int(again.headers["retry-after"]) <= 3600
    job = (await add_jobs(somchai, 1))[0]
    third = await upload_url(client, bearer(ctx.signer, somchai), job["id"])
    assert_problem(third, 429, "rate_limited")
    assert left(third, "uploads") == 3 and left(third, "uploads-user") == 0


@pytest.mark.parametrize("store", ["local", "s3"])
async def test_a_fleet_on_one_address_replays_a_day_of_photos_without_a_429(
    client: httpx.AsyncClient, bucket: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    """Four phones behind one address, each with a heavy day's photos (20 jobs, before and
    after: 40 photos) replayed at once, as the app sends them, one photo after another: two of
    the app's requests a photo with either store (with a bucket a third, the PUT, is the
    bucket's), 80 of each phone's 120 a minute (``RATE_LIMIT_UPLOADS``)."""
    statuses: list[int] = []
    for _ in range(4):
        person = await add_staff(world)
        phone = bearer(ctx.signer, person)
        for n, job in enumerate(await add_jobs(person, 20)):
            for kind in range(2):
                photo = PHOTO + bytes([n, kind])
                answers = await send_photo(client, bucket, phone, job["id"], photo)
                statuses.extend(answer.status_code for answer in answers)
    assert len(statuses) == 320 and set(statuses) == {201, 202}, statuses


def test_an_upload_url_made_before_grants_named_a_device_spends_a_budget_of_its_own() -> None:
    """A URL asked for just before an upgrade still reads; its photo stands for its device."""
    fields = [new_id(), new_id(), new_id(), "staff", None, "image/jpeg", 1000, 2**40]
    made = URLSafeSerializer("a key", salt="photo-upload").dumps(fields)
    grant = PhotoLinks("a key", 900).read_upload(made, 0)
    assert (grant.user_id, grant.device_id) == (fields[2], fields[0])
