"""Job photos: the upload lane (separate from the sync queue, so a 5 MB photo never holds up
a status change), and how a job's photos are shown to each role.

A photo's row is made when an upload URL is asked for (or with a direct upload) and bound to
the job and the person. The door checks only what is cheap (the size, the magic bytes, the
dimensions the header declares, who may upload) and answers at once; a refused upload stores
nothing and queues nothing. Everything only a full decode can tell (a truncated or corrupt
image, a bomb whose header lies) is the processor's verdict, and reaches the phone and the
office as the photo's status ``rejected`` with its ``problem``. The original is kept under its
SHA-256, so the same photo sent twice to one job is one photo and one object.

With an S3 store the phone sends the bytes to the bucket itself, through a presigned PUT, and
then completes the upload: the app reads the object's size and first bytes from the bucket,
moves it where the phone cannot write, and queues it; no photo byte crosses the app.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import Field

from server.core.access import Principal, Role
from server.core.clock import local_time
from server.core.inputs import Input, Text
from server.db.engine import write_transaction
from server.errors import (
    JobNotFound,
    PayloadTooLarge,
    PhotoAlreadyUploaded,
    PhotoCorrupt,
    PhotoNotFound,
    PhotoTooManyPixels,
    PhotoTypeMismatch,
    PhotoUnreadable,
    UnsupportedPhotoType,
)
from server.jobs.service import may_see, visible_job_version
from server.jobs.writes import Actor, JobWriter, lock_jobs
from server.photos import queries as photo_queries
from server.photos.images import (
    DECLARED_FORMATS,
    MAX_PHOTO_PIXELS,
    PhotoFacts,
    PhotoRejected,
    check_start,
    header_pixels,
    peek_photo,
)
from server.photos.links import PhotoLinks, UploadGrant
from server.photos.storage.objects import DirectUploads, ObjectStore

EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/heic": "heic",
    "image/heif": "heic",
}
REFUSALS = {
    "unsupported_photo_type": UnsupportedPhotoType,
    "photo_type_mismatch": PhotoTypeMismatch,
    "photo_corrupt": PhotoCorrupt,
    "photo_too_many_pixels": PhotoTooManyPixels,
}
PhotoKind = Literal["before", "after", "other"]
GENERIC_TYPES = ("application/octet-stream", "binary/octet-stream", "")
SAME_TYPE = {t: ("image/heic" if t == "image/heif" else t) for t in DECLARED_FORMATS}
HEADER_BYTES = 65_536  # what completion reads of an object: the magic bytes, most headers
COMPLETE_SUFFIX = "/complete"
UPLOADS_PREFIX = "uploads/"  # the phones' presigned PUTs; a lifecycle rule may expire it
LANDED_PREFIX = "originals/by-photo/"  # direct uploads once processing took them over


class DirectUpload(Input):
    """The form fields of a direct upload (beside ``file``); only ``file`` is required."""

    kind: PhotoKind = "other"
    photo_id: uuid.UUID | None = None


class UploadRequest(Input):
    kind: PhotoKind
    content_type: Text = Field(max_length=64)
    photo_id: uuid.UUID | None = Field(
        None, description="The app's own id for the photo, so a retried request is one photo."
    )


def accepted_type(content_type: str) -> str:
    """The declared media type, normalised; 415 unless it is one we take."""
    media_type = content_type.split(";")[0].strip().lower()
    if media_type not in DECLARED_FORMATS:
        raise UnsupportedPhotoType(f"{media_type or 'no type'} is not JPEG, PNG, WebP or HEIC.")
    return media_type


async def request_upload(
    principal: Principal,
    job_id: str,
    request: UploadRequest,
    links: PhotoLinks,
    max_bytes: int,
    url_seconds: int,
    direct: DirectUploads | None = None,
) -> dict[str, Any]:
    """A single-photo upload URL bound to the job, the person and device, the type and the
    size. With a ``direct`` store it is the bucket's presigned PUT, and ``completeUrl`` is
    where the phone then says the bytes are there."""
    await visible_job_version(principal, job_id)
    content_type = accepted_type(request.content_type)
    expires = datetime.now(UTC) + timedelta(seconds=url_seconds)
    photo_id = str(request.photo_id or uuid.uuid4())
    await _photo_row(photo_id, job_id, principal, request.kind, content_type, expires)
    grant = UploadGrant(
        photo_id,
        job_id,
        principal.user_id,
        principal.role,
        principal.branch_id,
        content_type,
        max_bytes,
        int(expires.timestamp()),
        principal.device_id,
    )
    app_url = links.upload_url(grant)
    answer = {
        "photoId": photo_id,
        "uploadUrl": app_url,
        "uploadHeaders": {"Content-Type": content_type},
        "completeUrl": None,
        "expiresAt": local_time(expires),
        "maxBytes": max_bytes,
    }
    if direct is not None:
        key = upload_key(photo_id, content_type)
        answer["uploadUrl"] = await direct.upload_url(key, content_type, url_seconds)
        answer["completeUrl"] = app_url + COMPLETE_SUFFIX
    return answer


def upload_key(photo_id: str, content_type: str) -> str:
    """Where the phone's presigned PUT lands (it may write there until the URL expires)."""
    return f"{UPLOADS_PREFIX}{photo_id}.{EXTENSIONS[content_type]}"


def is_direct_upload(key: str) -> bool:
    return key.startswith(UPLOADS_PREFIX)


async def receive_upload(
    grant: UploadGrant, body: bytes, sent_type: str | None, store: ObjectStore
) -> dict[str, Any]:
    """``PUT uploadUrl``: check the bytes, keep them once, queue them for processing. A
    generic or missing ``Content-Type`` takes the type the URL was made for."""
    generic = not sent_type or sent_type.split(";")[0].strip().lower() in GENERIC_TYPES
    if not generic and SAME_TYPE[accepted_type(sent_type or "")] != SAME_TYPE[grant.content_type]:
        raise PhotoTypeMismatch(f"The upload URL was made for {grant.content_type}.")
    facts = await checked_photo(body, grant.content_type, grant.max_bytes)
    return await keep_photo(grant.photo_id, grant.job_id, _uploader(grant), body, facts, store)


async def complete_upload(grant: UploadGrant, direct: DirectUploads) -> dict[str, Any]:
    """``POST completeUrl``: the bytes the phone sent to the bucket, checked there by one
    ranged read (size, magic bytes, declared pixels), then queued; the processor moves them
    out of the phone's reach. A repeat answers as the first did. A refused object is deleted
    and the refusal answered."""
    uploader = _uploader(grant)
    photo = await _own_photo(grant.photo_id, grant.job_id, uploader)
    if photo["status"] != photo_queries.AWAITING_UPLOAD:
        return await _current(photo)
    source = upload_key(grant.photo_id, grant.content_type)
    size = await _checked_in_bucket(direct, source, grant)
    now = datetime.now(UTC)
    async with write_transaction():
        job = (await lock_jobs([grant.job_id])).get(grant.job_id)
        if job is None or not may_see(uploader, job):
            raise JobNotFound()  # reassigned since the URL was given
        values: dict[Any, Any] = {
            "original_key": source,
            "size_bytes": size,
            "uploaded_at": now,
            "next_attempt_at": now,
        }
        if not await photo_queries.store_upload(grant.photo_id, values):
            settled = await photo_queries.get_photo(grant.photo_id)
            assert settled is not None
            return await _current(settled)
        await _photo_added(job, photo, now)
    return {"photoId": grant.photo_id, "status": photo_queries.QUEUED}


async def upload_status(grant: UploadGrant) -> dict[str, Any]:
    """Completion without a bucket: the bytes came through the app's own upload URL."""
    photo = await _own_photo(grant.photo_id, grant.job_id, _uploader(grant))
    if photo["status"] == photo_queries.AWAITING_UPLOAD:
        raise PhotoNotFound("Nothing has been uploaded to the upload URL yet.")
    return await _current(photo)


async def _checked_in_bucket(direct: DirectUploads, key: str, grant: UploadGrant) -> int:
    """The object's size, once its first bytes pass the door's checks; refused, it is deleted."""
    start = await direct.read_start(key, HEADER_BYTES)
    if start is None:
        raise PhotoNotFound("Nothing has been uploaded to the upload URL yet.")
    data, size = start
    try:
        if size > grant.max_bytes:
            raise PayloadTooLarge(f"A photo may be at most {grant.max_bytes} bytes.")
        _check_header(data, grant.content_type)
    except (PayloadTooLarge, PhotoUnreadable, UnsupportedPhotoType):
        await direct.delete(key)  # refused: nothing is kept
        raise
    return size


async def land_direct_upload(direct: DirectUploads, key: str) -> str:
    """For the processor: a completed direct upload moved where the phone cannot write (its
    upload URL stays valid until it expires); the key it is kept under. Idempotent, so a
    processor that died midway is followed by one that finishes the move."""
    target = LANDED_PREFIX + key.removeprefix(UPLOADS_PREFIX)
    if await direct.head(key) is not None:
        await direct.move(key, target)
    return target


def _check_header(start: bytes, content_type: str) -> None:
    """The magic bytes, and the pixels the header declares when it is in ``start``."""
    try:
        check_start(start, content_type)
    except PhotoRejected as rejected:
        raise REFUSALS[rejected.code](rejected.detail) from rejected
    pixels = header_pixels(start)
    if pixels is not None and pixels > MAX_PHOTO_PIXELS:
        raise PhotoTooManyPixels(f"{pixels} pixels is over {MAX_PHOTO_PIXELS}.")


async def upload_directly(
    principal: Principal,
    job_id: str,
    form: DirectUpload,
    body: bytes,
    content_type: str,
    store: ObjectStore,
    max_bytes: int,
) -> dict[str, Any]:
    """``POST /jobs/{id}/photos``: the upload URL and the upload in one step."""
    await visible_job_version(principal, job_id)
    declared = accepted_type(content_type)
    facts = await checked_photo(body, declared, max_bytes)
    photo_id = str(form.photo_id or uuid.uuid4())
    await _photo_row(photo_id, job_id, principal, form.kind, declared, datetime.now(UTC))
    return await keep_photo(photo_id, job_id, principal, body, facts, store)


async def checked_photo(body: bytes, declared_type: str, max_bytes: int) -> PhotoFacts:
    """The door's checks (size, magic bytes, the header's dimensions; no pixel decoded), with
    the hash, in a thread: the facts, or the refusal as its problem."""
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"A photo may be at most {max_bytes} bytes.")
    try:
        return await asyncio.to_thread(peek_photo, body, declared_type)
    except PhotoRejected as rejected:
        raise REFUSALS[rejected.code](rejected.detail) from rejected


async def keep_photo(
    photo_id: str,
    job_id: str,
    uploader: Principal,
    body: bytes,
    facts: PhotoFacts,
    store: ObjectStore,
) -> dict[str, Any]:
    """Store the original and queue the photo. A retry of the same bytes answers as the
    first time did; the same bytes already on the job answer with that photo (and a failed
    one is tried afresh)."""
    photo = await _own_photo(photo_id, job_id, uploader)
    if photo["status"] != photo_queries.AWAITING_UPLOAD:
        return await _settled_upload(photo, facts)
    key = original_key(facts)
    await store.put(key, body, facts.media_type)  # content-addressed: a repeat is harmless
    now = datetime.now(UTC)
    async with write_transaction():
        job = (await lock_jobs([job_id])).get(job_id)  # one upload per job at a time
        if job is None or not may_see(uploader, job):
            raise JobNotFound()  # reassigned since the URL was given
        twin = await photo_queries.photo_with_content(job_id, facts.sha256)
        if twin is not None:
            await photo_queries.mark_duplicate(photo_id, str(twin["id"]))
            return await _settled_upload(twin, facts)
        stored = await photo_queries.store_upload(
            photo_id,
            {
                "content_hash": facts.sha256,
                "content_type": facts.media_type,
                "original_key": key,
                "size_bytes": len(body),
                "width": facts.width,
                "height": facts.height,
                "uploaded_at": now,
                "next_attempt_at": now,
            },
        )
        if not stored:  # a racing copy of this upload settled it first
            settled = await photo_queries.get_photo(photo_id)
            assert settled is not None
            return await _settled_upload(settled, facts)
        await _photo_added(job, photo, now)
    return {"photoId": photo_id, "status": "queued"}


async def _photo_added(job: dict[str, Any], photo: dict[str, Any], now: datetime) -> None:
    """Within the write transaction: the job one version up, for its watchers."""
    writer = JobWriter(Actor(str(photo["user_id"]), _text(photo["device_id"])), now)
    about = {"photo": {"id": str(photo["id"]), "kind": photo["kind"], "status": "queued"}}
    writer.change(job, {}, "job.photo_added", about=about)
    await writer.commit()


async def _own_photo(photo_id: str, job_id: str, uploader: Principal) -> dict[str, Any]:
    photo = await photo_queries.get_photo(photo_id)
    if photo is None or str(photo["job"]) != job_id or str(photo["user_id"]) != uploader.user_id:
        raise PhotoNotFound()
    return photo


def _uploader(grant: UploadGrant) -> Principal:
    return Principal(grant.user_id, grant.device_id, Role(grant.role), grant.branch_id, None)


def original_key(facts: PhotoFacts) -> str:
    return f"originals/{facts.sha256[:2]}/{facts.sha256}.{EXTENSIONS[facts.media_type]}"


def variant_key(sha256: str, media_type: str) -> str:
    return f"variants/{sha256[:2]}/{sha256}.{media_type.removeprefix('image/')}"


async def job_photos(
    principal: Principal, job_id: str, links: PhotoLinks, now: float
) -> list[dict[str, Any]]:
    """The job's photos as the caller may see them: everyone sees the pictures and when they
    were taken; dispatchers and admins also see the evidence (where, flags) and originals."""
    office = principal.audience.family == "office"
    return [_shown(row, links, now, office) for row in await photo_queries.job_photos(job_id)]


def rejection(row: dict[str, Any]) -> dict[str, str] | None:
    """Why processing refused the photo (``{"code", "detail"}``), for the phone and the
    office alike; None unless it is ``rejected``."""
    if row["status"] != photo_queries.REJECTED:
        return None
    code, _, detail = str(row["last_error"]).partition(": ")
    return {"code": code, "detail": detail}


def _shown(row: dict[str, Any], links: PhotoLinks, now: float, office: bool) -> dict[str, Any]:
    variants = row["variants"] or []
    webp = {v["name"]: v for v in variants if v["mediaType"] == "image/webp"}
    url = (lambda v: links.media_url(v["key"], now)) if variants else None
    shown: dict[str, Any] = {
        "id": str(row["id"]),
        "kind": row["kind"],
        "status": row["status"],
        "thumbnailUrl": url(webp["thumb"]) if url else None,
        "url": url(webp["display"]) if url else None,
        "takenAt": local_time(row["taken_at"]) if row["taken_at"] else None,
        "width": row["width"],
        "height": row["height"],
        "variants": [
            {k: v[k] for k in ("name", "mediaType", "width", "height")} | {"url": url(v)}
            for v in variants
            if url
        ],
        "problem": rejection(row),
    }
    if office:
        shown["uploadedBy"] = str(row["user_id"])
        original = row["original_key"]  # let go of after the retention period
        shown["originalUrl"] = links.media_url(original, now) if original else None
        shown["evidence"] = {
            "location": None if row["lat"] is None else {"lat": row["lat"], "lng": row["lng"]},
            "distanceMeters": row["distance_meters"],
            "flags": row["flags"] or [],
        }
        shown["error"] = row["last_error"] or None
    return shown


async def _settled_upload(photo: dict[str, Any], facts: PhotoFacts) -> dict[str, Any]:
    """The answer for a photo whose bytes already landed (under this id or as a twin)."""
    if photo["status"] == photo_queries.DUPLICATE:
        twin = await photo_queries.get_photo(str(photo["duplicate_of"]))
        assert twin is not None
        photo = twin
    if photo["content_hash"] != facts.sha256:
        raise PhotoAlreadyUploaded("This photo already has other bytes; ask for a new photoId.")
    return await _current(photo)


async def _current(photo: dict[str, Any]) -> dict[str, Any]:
    """A settled upload's answer: its status (a failed one queued afresh; a rejected one
    stays rejected, the same bytes would be again)."""
    if photo["status"] == photo_queries.DUPLICATE:
        twin = await photo_queries.get_photo(str(photo["duplicate_of"]))
        assert twin is not None
        photo = twin
    if photo["status"] == photo_queries.FAILED:
        await photo_queries.requeue_failed(str(photo["id"]), datetime.now(UTC))
        return {"photoId": str(photo["id"]), "status": photo_queries.QUEUED}
    return {"photoId": str(photo["id"]), "status": photo["status"]}


async def _photo_row(
    photo_id: str,
    job_id: str,
    principal: Principal,
    kind: str,
    content_type: str,
    expires: datetime,
) -> dict[str, Any]:
    """The photo's row, made now or by an earlier (or racing) request for the same photo."""
    row = await photo_queries.insert_photo(
        _new_photo(photo_id, job_id, principal, kind, content_type, expires)
    )
    if str(row["job"]) != job_id or str(row["user_id"]) != principal.user_id:
        raise PhotoNotFound("That photoId belongs to another photo.")
    return row


def _new_photo(
    photo_id: str,
    job_id: str,
    principal: Principal,
    kind: str,
    content_type: str,
    expires: datetime,
) -> dict[str, Any]:
    return {
        "id": photo_id,
        "job": job_id,
        "user_id": principal.user_id,
        "device_id": principal.device_id,
        "kind": kind,
        "content_type": content_type,
        "upload_expires_at": expires,
    }


def _text(value: object) -> str | None:
    return None if value is None else str(value)
