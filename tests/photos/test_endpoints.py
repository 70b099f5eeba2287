"""Job photos over HTTP: upload URLs and the upload itself, the direct upload, processing in
the background (real process pool), what each role sees, signed links, bad uploads, and the
sync attachment."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from server.context import AppContext
from server.db.tables import Photo
from server.ops.retention import purge_locations
from server.photos import queries as photo_queries
from server.photos.links import UploadGrant
from server.photos.worker import processor_for
from tests.phones import Dispatcher, Phone, new_id
from tests.photos.camera import LATITUDE, LONGITUDE, camera_photo, plain_image, png_claiming_size
from tests.problems import assert_problem
from tests.world import World, add_jobs, add_staff, bearer

SMALL_LIMIT = 400_000


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"photo_max_bytes": SMALL_LIMIT}


@pytest.fixture(autouse=True)
async def processor(ctx: AppContext) -> AsyncIterator[None]:
    """The queue's processor, as ``python -m server run`` starts it in a process of its own."""
    running = processor_for(ctx.settings, ctx.photo_store)
    running.start()
    yield
    await running.stop()


async def staff_with_a_job(ctx: AppContext, world: World) -> tuple[dict[str, Any], dict[str, str]]:
    """One job of a new staff member's, and their request headers."""
    staff = await add_staff(world)
    job = (await add_jobs(staff, 1))[0]
    return job, bearer(ctx.signer, staff)


async def upload_url(
    client: httpx.AsyncClient, headers: dict[str, str], job_id: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"/api/mobile/jobs/{job_id}/photos/upload-url",
        json={"kind": "before", "contentType": "image/jpeg", **body},
        headers=headers,
    )


async def put(client: httpx.AsyncClient, url: str, body: bytes, kind: str) -> httpx.Response:
    return await client.put(url, content=body, headers={"Content-Type": kind})


async def detail(client: httpx.AsyncClient, headers: dict[str, str], job_id: str) -> Any:
    answer = await client.get(f"/api/mobile/jobs/{job_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def processed(
    client: httpx.AsyncClient, headers: dict[str, str], job_id: str, photo_id: str
) -> dict[str, Any]:
    """The photo once the background processor has settled it (bounded wait)."""
    for _ in range(300):
        photos = {p["id"]: p for p in (await detail(client, headers, job_id))["photos"]}
        photo: dict[str, Any] = photos[photo_id]
        if photo["status"] in ("ready", "failed", "rejected"):
            return photo
        await asyncio.sleep(0.1)
    raise AssertionError(f"photo {photo_id} was not processed: {photos[photo_id]}")


def picture(body: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(body))
    image.load()
    return image


async def test_a_photo_sent_to_its_upload_url_is_processed_upright_and_bare(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    job, mine = await staff_with_a_job(ctx, world)
    asked = await upload_url(client, mine, job["id"])
    assert asked.status_code == 201, asked.text
    grant = asked.json()
    assert grant["maxBytes"] == SMALL_LIMIT

    sent = await put(client, grant["uploadUrl"], camera_photo("JPEG", (640, 480)), "image/jpeg")

    assert sent.status_code == 202, sent.text
    assert sent.json() == {"photoId": grant["photoId"], "status": "queued"}
    photo = await processed(client, mine, job["id"], grant["photoId"])
    assert photo["status"] == "ready"
    assert photo["takenAt"] == "2026-11-20T09:15:00+07:00"
    assert "evidence" not in photo and "originalUrl" not in photo, "evidence is for the office"
    thumb = await client.get(photo["thumbnailUrl"])
    assert thumb.status_code == 200
    assert thumb.headers["content-type"] == "image/webp"
    assert "immutable" in thumb.headers["cache-control"]
    shown = picture(thumb.content)
    assert shown.size == (240, 320), "orientation 6 turns the 640x480 frame upright"
    corner = shown.convert("RGB").getpixel((shown.width - 5, 5))
    assert isinstance(corner, tuple) and corner[0] > 200, "the marked corner is top right"
    assert not shown.getexif() and not {"exif", "xmp", "icc_profile"} & set(shown.info)
    display = picture((await client.get(photo["url"])).content)
    assert display.size == (480, 640), "never upscaled"


async def test_the_office_sees_where_and_when_and_what_looks_wrong(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    staff = await add_staff(world)
    job = (await add_jobs(staff, 1))[0]  # at 13.7083, 100.5838: the photo is ~10 km away
    heic = camera_photo("HEIF")
    answer = await client.post(
        f"/api/mobile/jobs/{job['id']}/photos",
        files={"file": ("IMG_0001.HEIC", heic, "image/heic")},
        data={"kind": "after"},
        headers=bearer(ctx.signer, staff),
    )
    assert answer.status_code == 202, answer.text

    office = bearer(ctx.signer, world.dispatcher)
    photo = await processed(client, office, job["id"], answer.json()["photoId"])

    assert photo["kind"] == "after"
    evidence = photo["evidence"]
    assert evidence["location"] == pytest.approx({"lat": LATITUDE, "lng": LONGITUDE}, abs=1e-4)
    assert 9_000 < evidence["distanceMeters"] < 11_000
    assert set(evidence["flags"]) == {"far_from_job", "no_check_in"}
    original = await client.get(photo["originalUrl"])
    assert original.headers["content-type"] == "image/heic"
    assert original.content == heic, "the original is kept as sent"


async def test_the_same_photo_twice_is_one_photo(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    job, mine = await staff_with_a_job(ctx, world)
    body = camera_photo("WEBP")
    grant = (await upload_url(client, mine, job["id"], contentType="image/webp")).json()

    first = await put(client, grant["uploadUrl"], body, "image/webp")
    retried = await put(client, grant["uploadUrl"], body, "image/webp")  # the answer was lost
    again = await client.post(
        f"/api/mobile/jobs/{job['id']}/photos",
        files={"file": ("again.webp", body, "image/webp")},
        headers=mine,
    )
    other = await put(client, grant["uploadUrl"], camera_photo("WEBP", (320, 200)), "image/webp")

    assert first.json()["photoId"] == retried.json()["photoId"] == grant["photoId"]
    assert again.status_code == 202 and again.json()["photoId"] == grant["photoId"]
    assert_problem(other, 409, "photo_already_uploaded")
    assert [p["id"] for p in (await detail(client, mine, job["id"]))["photos"]] == [
        grant["photoId"]
    ]


BAD_UPLOADS = [
    (b"just some text", "image/jpeg", 415, "unsupported_photo_type"),
    (plain_image("GIF"), "image/jpeg", 415, "unsupported_photo_type"),
    (plain_image("BMP"), "image/png", 415, "unsupported_photo_type"),
    (plain_image("PNG"), "image/jpeg", 422, "photo_type_mismatch"),
    (png_claiming_size(30_000, 30_000), "image/png", 422, "photo_too_many_pixels"),
    (b"", "image/jpeg", 422, "photo_corrupt"),
    (b"\xff\xd8\xff" + bytes(SMALL_LIMIT), "image/jpeg", 413, "payload_too_large"),
]


@pytest.mark.parametrize(("body", "declared", "status", "code"), BAD_UPLOADS)
async def test_a_bad_upload_is_refused_and_nothing_is_kept(
    client: httpx.AsyncClient,
    ctx: AppContext,
    world: World,
    body: bytes,
    declared: str,
    status: int,
    code: str,
) -> None:
    job, mine = await staff_with_a_job(ctx, world)
    stored_before = stored_objects(ctx)
    grant = (await upload_url(client, mine, job["id"], contentType=declared)).json()

    assert_problem(await put(client, grant["uploadUrl"], body, declared), status, code)
    direct = await client.post(
        f"/api/mobile/jobs/{job['id']}/photos",
        files={"file": ("photo", body, declared)},
        headers=mine,
    )
    assert_problem(direct, status, code)
    assert (await detail(client, mine, job["id"]))["photos"] == []
    assert stored_objects(ctx) == stored_before
    assert not await photo_queries.job_photos(job["id"]), "nothing queued"


async def test_a_photo_only_a_full_decode_shows_bad_is_taken_then_rejected_for_all_to_see(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    job, mine = await staff_with_a_job(ctx, world)
    whole = camera_photo("JPEG", (800, 600))
    cut_off = whole[: len(whole) * 2 // 3]  # the header is whole: only decoding shows it
    grant = (await upload_url(client, mine, job["id"])).json()

    sent = await put(client, grant["uploadUrl"], cut_off, "image/jpeg")

    assert sent.status_code == 202 and sent.json()["status"] == "queued", sent.text
    photo = await processed(client, mine, job["id"], grant["photoId"])
    assert photo["status"] == "rejected"
    assert photo["problem"]["code"] == "photo_corrupt" and photo["problem"]["detail"]
    assert photo["thumbnailUrl"] is None and photo["variants"] == []
    office = {
        p["id"]: p
        for p in (await detail(client, bearer(ctx.signer, world.dispatcher), job["id"]))["photos"]
    }
    assert office[grant["photoId"]]["problem"] == photo["problem"]
    again = await put(client, grant["uploadUrl"], cut_off, "image/jpeg")
    assert again.json() == {"photoId": grant["photoId"], "status": "rejected"}, "same verdict"
    complete = await client.post(grant["uploadUrl"] + "/complete")
    assert complete.json() == {"photoId": grant["photoId"], "status": "rejected"}


def stored_objects(ctx: AppContext) -> set[Path]:
    """The originals kept (variants come only from those)."""
    root = ctx.settings.photos_dir / "originals"
    return {path for path in root.rglob("*") if path.is_file()} if root.exists() else set()


async def test_only_photo_types_get_an_upload_url(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    job = world.jobs[world.staff_a["id"]][0]
    answer = await upload_url(
        client, bearer(ctx.signer, world.staff_a), job, contentType="image/gif"
    )
    assert_problem(answer, 415, "unsupported_photo_type")


async def test_links_refuse_tampering_expiry_and_other_peoples_jobs(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    staff, stranger = await add_staff(world), await add_staff(world)
    job = (await add_jobs(staff, 1))[0]
    mine = bearer(ctx.signer, staff)
    grant = (await upload_url(client, mine, job["id"])).json()
    body = camera_photo("JPEG")

    tampered = grant["uploadUrl"][:-3] + (
        "AAA" if not grant["uploadUrl"].endswith("AAA") else "BBB"
    )
    assert_problem(await put(client, tampered, body, "image/jpeg"), 403, "invalid_signature")
    lapsed = ctx.photo_links.upload_url(
        UploadGrant(grant["photoId"], job["id"], staff["id"], "staff", None, "image/jpeg", 10**6, 1)
    )
    assert_problem(await put(client, lapsed, body, "image/jpeg"), 403, "link_expired")

    theirs = bearer(ctx.signer, stranger)
    assert_problem(await upload_url(client, theirs, job["id"]), 404, "job_not_found")
    direct = await client.post(
        f"/api/mobile/jobs/{job['id']}/photos",
        files={"file": ("x.jpg", body, "image/jpeg")},
        headers=theirs,
    )
    assert_problem(direct, 404, "job_not_found")
    taken = await upload_url(
        client, theirs, (await add_jobs(stranger, 1))[0]["id"], photoId=grant["photoId"]
    )
    assert_problem(taken, 404, "photo_not_found")

    assert (await put(client, grant["uploadUrl"], body, "image/jpeg")).status_code == 202
    photo = await processed(client, mine, job["id"], grant["photoId"])
    url = photo["thumbnailUrl"]
    assert (await client.get(url)).status_code == 200
    assert_problem(await client.get(url.replace("sig=", "sig=0")), 403, "invalid_signature")
    later = url.replace("exp=", "exp=9")
    assert_problem(await client.get(later), 403, "invalid_signature")
    key = url.split("?")[0].removeprefix("/media/")
    old = ctx.photo_links.media_url(key, time.time() - 3 * 24 * 3600)
    assert_problem(await client.get(old), 403, "link_expired")


async def test_sync_attaches_a_photo_once_and_only_ones_own(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    phone = Phone(client, ctx, await add_staff(world))
    job, other_job = await add_jobs(phone.user, 2)
    grant = (await upload_url(client, phone.headers, job["id"])).json()
    attach = {"mutationId": new_id(), "jobId": job["id"], "photoId": grant["photoId"]}
    wrong_job = {"mutationId": new_id(), "jobId": other_job["id"], "photoId": grant["photoId"]}
    unknown = {"mutationId": new_id(), "jobId": job["id"], "photoId": new_id()}
    garbled = {"mutationId": new_id(), "jobId": job["id"], "photoId": "not-a-uuid"}

    answer = await phone.sync(photos=[attach, wrong_job, unknown, garbled])
    again = await phone.sync(photos=[attach])

    assert answer["synced"] == [attach["mutationId"]] == again["synced"]
    assert {f["mutationId"]: f["code"] for f in answer["failed"]} == {
        wrong_job["mutationId"]: "photo_not_found",
        unknown["mutationId"]: "photo_not_found",
        garbled["mutationId"]: "photo_not_found",
    }
    stored = await photo_queries.get_photo(grant["photoId"])
    assert stored is not None and stored["attached_at"] is not None
    receipts = [r for r in await phone.receipts() if r["mutationId"] == attach["mutationId"]]
    assert len(receipts) == 1


async def test_racing_retries_of_one_photo_are_one_photo(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    job, mine = await staff_with_a_job(ctx, world)
    photo_id = new_id()
    asked = await asyncio.gather(
        *(upload_url(client, mine, job["id"], photoId=photo_id) for _ in range(3))
    )
    assert [a.status_code for a in asked] == [201, 201, 201]
    body = camera_photo("JPEG")
    sent = await asyncio.gather(
        *(
            client.post(
                f"/api/mobile/jobs/{job['id']}/photos",
                files={"file": ("a.jpg", body, "image/jpeg")},
                data={"photoId": photo_id},
                headers=mine,
            )
            for _ in range(3)
        )
    )
    assert [(r.status_code, r.json()["photoId"]) for r in sent] == [(202, photo_id)] * 3
    assert [p["id"] for p in (await detail(client, mine, job["id"]))["photos"]] == [photo_id]


async def test_a_retry_after_the_bytes_matched_another_photo_answers_the_same(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    phone = Phone(client, ctx, await add_staff(world))
    job = (await add_jobs(phone.user, 1))[0]
    body = camera_photo("PNG")
    first = (await upload_url(client, phone.headers, job["id"], contentType="image/png")).json()
    second = (await upload_url(client, phone.headers, job["id"], contentType="image/png")).json()
    await put(client, first["uploadUrl"], body, "image/png")

    answers = [await put(client, second["uploadUrl"], body, "image/png") for _ in range(2)]
    attach = {"mutationId": new_id(), "jobId": job["id"], "photoId": second["photoId"]}
    synced = await phone.sync(photos=[attach])

    assert [(a.status_code, a.json()["photoId"]) for a in answers] == [(202, first["photoId"])] * 2
    assert synced["synced"] == [attach["mutationId"]]
    stored = await photo_queries.get_photo(first["photoId"])
    assert stored is not None and stored["attached_at"] is not None


async def test_an_upload_url_ends_when_the_job_leaves_its_holder(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    staff, other = await add_staff(world), await add_staff(world)
    job = (await add_jobs(staff, 1))[0]
    grant = (await upload_url(client, bearer(ctx.signer, staff), job["id"])).json()
    office = Dispatcher(client, ctx, world.dispatcher)
    assert (await office.assign(job["id"], other["id"])).status_code == 200

    answer = await put(client, grant["uploadUrl"], camera_photo("JPEG"), "image/jpeg")

    assert_problem(answer, 404, "job_not_found")
    assert await photo_queries.job_photos(job["id"]) == []


async def test_loose_inputs_get_clear_answers(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    job, mine = await staff_with_a_job(ctx, world)
    photos = f"/api/mobile/jobs/{job['id']}/photos"
    file = {"file": ("a.jpg", camera_photo("JPEG"), "image/jpeg")}
    for form, field in (({"photoId": "nope"}, "photoId"), ({"kind": "selfie"}, "kind")):
        answer = await client.post(photos, files=file, data=form, headers=mine)
        problem = assert_problem(answer, 422, "validation_failed")
        assert [e["field"] for e in problem["errors"]] == [field]
    no_boundary = await client.post(
        photos, content=b"--x\r\n", headers=mine | {"Content-Type": "multipart/form-data"}
    )
    assert no_boundary.status_code in (400, 415)
    assert no_boundary.headers["content-type"] == "application/problem+json"
    heic = (await upload_url(client, mine, job["id"], contentType="image/heic")).json()
    same_kind = await put(client, heic["uploadUrl"], camera_photo("HEIF"), "image/heif")
    assert same_kind.status_code == 202, "HEIC and HEIF are one kind of file"
    generic = (await upload_url(client, mine, job["id"])).json()
    sent = await put(client, generic["uploadUrl"], camera_photo("JPEG"), "application/octet-stream")
    assert sent.status_code == 202, "a generic type takes the one the URL was made for"
    assert_problem(await client.get("/media/originals/x.jpg?exp=²&sig=0"), 403, "invalid_signature")
    assert_problem(
        await client.get(f"/media/originals/x.jpg?exp={'9' * 5000}&sig=0"), 403, "invalid_signature"
    )


async def test_a_failed_photo_sent_again_is_tried_afresh(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    job, mine = await staff_with_a_job(ctx, world)
    body = camera_photo("JPEG")
    first = (await upload_url(client, mine, job["id"])).json()
    await put(client, first["uploadUrl"], body, "image/jpeg")
    await processed(client, mine, job["id"], first["photoId"])
    await Photo.update({Photo.status: "failed", Photo.attempts: 10}).where(
        Photo.id == first["photoId"]
    )  # as after a long storage outage

    again = (await upload_url(client, mine, job["id"])).json()
    answer = await put(client, again["uploadUrl"], body, "image/jpeg")

    assert answer.json() == {"photoId": first["photoId"], "status": "queued"}
    assert (await processed(client, mine, job["id"], first["photoId"]))["status"] == "ready"


async def test_a_photo_whose_processors_keep_dying_fails_instead_of_looping(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    job, mine = await staff_with_a_job(ctx, world)
    grant = (await upload_url(client, mine, job["id"])).json()
    await put(client, grant["uploadUrl"], camera_photo("JPEG"), "image/jpeg")
    await processed(client, mine, job["id"], grant["photoId"])
    lapsed = datetime.now(UTC) - timedelta(minutes=5)
    await Photo.update(
        {
            Photo.status: "processing",
            Photo.attempts: ctx.settings.photo_max_attempts,
            Photo.lease_owner: "a-processor-that-died",
            Photo.lease_until: lapsed,
            Photo.next_attempt_at: lapsed,
        }
    ).where(Photo.id == grant["photoId"])

    photo = await processed(
        client, bearer(ctx.signer, world.dispatcher), job["id"], grant["photoId"]
    )

    assert photo["status"] == "failed"
    assert "stopped before it finished" in photo["error"]


async def test_after_the_retention_period_the_place_is_forgotten_and_the_picture_kept(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    staff = await add_staff(world)
    job = (await add_jobs(staff, 1))[0]
    grant = (await upload_url(client, bearer(ctx.signer, staff), job["id"])).json()
    await put(client, grant["uploadUrl"], camera_photo("JPEG", (400, 300)), "image/jpeg")
    office = bearer(ctx.signer, world.dispatcher)
    before = await processed(client, office, job["id"], grant["photoId"])
    original = before["originalUrl"].split("?")[0].removeprefix("/media/")
    assert before["evidence"]["location"] is not None

    purged = await purge_locations(
        ctx.settings.location_retention_days,
        ctx.photo_store,
        now=datetime.now(UTC) + timedelta(days=ctx.settings.location_retention_days + 1),
    )

    assert purged >= 1
    after = {p["id"]: p for p in (await detail(client, office, job["id"]))["photos"]}
    photo = after[grant["photoId"]]
    assert photo["evidence"]["location"] is None, "no cached detail shows the place"
    assert photo["originalUrl"] is None and not await ctx.photo_store.exists(original)
    assert set(photo["evidence"]["flags"]) == set(before["evidence"]["flags"])
    assert (await client.get(photo["thumbnailUrl"])).status_code == 200


async def test_a_photo_of_exactly_the_limit_fits_in_a_form(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    """The form's boundaries and fields come on top of the file: the route leaves room."""
    job, mine = await staff_with_a_job(ctx, world)
    photo = camera_photo("JPEG")
    body = photo + bytes(SMALL_LIMIT - len(photo))  # past the image's end, as cameras pad
    answer = await client.post(
        f"/api/mobile/jobs/{job['id']}/photos",
        files={"file": ("padded.jpg", body, "image/jpeg")},
        data={"kind": "before", "photoId": new_id()},
        headers=mine,
    )
    assert answer.status_code == 202, answer.text
    over = body + b"\0"
    refused = await client.post(
        f"/api/mobile/jobs/{job['id']}/photos",
        files={"file": ("over.jpg", over, "image/jpeg")},
        data={"kind": "before", "photoId": new_id()},
        headers=mine,
    )
    assert_problem(refused, 413, "payload_too_large")
