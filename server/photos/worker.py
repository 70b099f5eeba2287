"""Turning uploaded photos into their variants, off the request path and durably.

The queue is the photo table itself (see ``photos/queries.py``): pending work survives a
restart, and on PostgreSQL several instances share it safely. Processing runs in processes of
its own, never in a process that answers requests: ``python -m server run`` keeps
``PHOTO_PROCESSING_WORKERS`` of them running beside its HTTP workers (each watched by a
process Sanic manages, which starts it again if it dies), and ``python -m server
process-photos`` runs one alone, e.g. on another host. Decoding a 12 MP HEIC takes a core for
a second or two; the feed's event loop must not pay for it.

A claim is a lease, renewed while the photo is worked on; a processor that dies lets it
lapse and another takes the photo up. Every verdict on the image the upload's door could not
give cheaply is given here, on every pixel: bad image data (truncated, corrupt, a bomb, not
the declared type) makes the photo ``rejected`` at once, with its problem code for the phone
and the office; anything else
is tried again with a growing delay, up to ``PHOTO_MAX_ATTEMPTS`` (a photo whose processors
keep dying on it included); then it is ``failed``, with its error shown to dispatchers. When
its variants are ready the job moves one version up with a ``photo-processed`` event, so job
details and live streams show them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from piccolo.columns import Column

from server.checkins.service import haversine_meters
from server.config import Settings
from server.core.background import LeasePolicy, PollingLoop, RetryPolicy, run_in_background
from server.core.metrics import count_photo_result
from server.db.engine import engine_for, write_transaction
from server.jobs.writes import Actor, JobWriter, lock_jobs
from server.photos import queries as photo_queries
from server.photos.images import MAX_PHOTO_PIXELS, PhotoRejected, ProcessedPhoto, process_photo
from server.photos.service import is_direct_upload, land_direct_upload, variant_key
from server.photos.storage.factory import direct_uploads, object_store_for
from server.photos.storage.objects import ObjectStore

log = logging.getLogger("tinedy.photos")

COMMAND = "process-photos"
POLL_SECONDS = 0.5
FIRST_RETRY_SECONDS = 5.0
NICENESS = 15


@dataclass(frozen=True)
class EvidenceRules:
    geofence_radius_meters: float
    visit_margin: timedelta


@dataclass(frozen=True)
class ProcessingLimits:
    """``workers`` photos at a time, each claimed under ``queue``'s lease and retries."""

    workers: int
    queue: LeasePolicy
    max_bytes: int = 20 * 1_048_576  # PHOTO_MAX_BYTES: a direct upload may grow after its check


class PhotoProcessor:
    """A share of the processing queue: ``workers`` photos at a time, each decoded in a
    thread of this process (Pillow and libheif work outside the GIL)."""

    def __init__(self, store: ObjectStore, limits: ProcessingLimits, rules: EvidenceRules) -> None:
        self.store = store
        self.limits = limits
        self.rules = rules
        self.owner = uuid.uuid4().hex  # names this processor's leases
        self._loops: list[PollingLoop] = []

    def start(self) -> None:
        """Each of ``workers`` loops takes photo after photo while any is due, and looks
        again every POLL_SECONDS when none is."""
        self._loops = [
            PollingLoop(
                f"photo-processor-{n}",
                self.process_next,
                POLL_SECONDS,
                logger=log,
                doing="processing the photo queue",
                traceback=True,
                level=logging.ERROR,
            )
            for n in range(self.limits.workers)
        ]
        for loop in self._loops:
            loop.start()

    async def stop(self) -> None:
        await asyncio.gather(*(loop.stop() for loop in self._loops))
        self._loops = []

    async def process_next(self) -> bool:
        """Claim and process one due photo; False when none is due."""
        now = datetime.now(UTC)
        if not await photo_queries.any_due(now):  # a read: no write lock while idle
            return False
        queue = self.limits.queue
        async with write_transaction():
            photo = await photo_queries.claim_next(
                self.owner, now, queue.lease_until(now), queue.due_if_lapsed(now)
            )
        if photo is None:
            return False
        if queue.tries_used_up(photo["attempts"]):
            # Its processors kept dying on it (out of memory, a crashing decoder).
            error = f"Processing stopped before it finished {queue.retries.max_attempts} times."
            gave_up: dict[Column | str, Any] = {"status": photo_queries.FAILED, "last_error": error}
            await self._settle(photo, gave_up, "failed")
            return True
        renewal = asyncio.create_task(self._keep_lease(str(photo["id"])))
        try:
            processed = await self._variants(photo)
        except Exception as exc:
            await self._failed(photo, exc)
            return True
        finally:
            renewal.cancel()
        await self._ready(photo, processed)
        return True

    async def _keep_lease(self, photo_id: str) -> None:
        """While a photo is being processed, its lease is renewed: a slow photo (a slow
        store) is not taken up by another processor meanwhile."""
        queue = self.limits.queue
        while True:
            await asyncio.sleep(queue.lease.total_seconds() / 3)
            async with write_transaction():
                until = queue.lease_until(datetime.now(UTC))
                await photo_queries.renew_lease(photo_id, self.owner, until)

    async def _variants(self, photo: dict[str, Any]) -> ProcessedPhoto:
        direct = direct_uploads(self.store)
        if direct is not None and is_direct_upload(photo["original_key"]):
            # Out of the phone's reach first; the new key is recorded as the photo settles.
            photo["original_key"] = await land_direct_upload(direct, photo["original_key"])
        original = await self.store.get(photo["original_key"])
        if original is None:
            raise LookupError(f"the original {photo['original_key']} is missing")
        if len(original) > self.limits.max_bytes:
            limit = self.limits.max_bytes
            raise PhotoRejected("payload_too_large", f"over {limit} bytes once uploaded", 413)
        loop = asyncio.get_running_loop()
        work = functools.partial(process_photo, original, MAX_PHOTO_PIXELS, photo["content_type"])
        processed = await loop.run_in_executor(None, work)
        for variant in processed.variants:
            key = variant_key(variant.sha256, variant.media_type)
            await self.store.put(key, variant.data, variant.media_type)
        return processed

    async def _ready(self, photo: dict[str, Any], processed: ProcessedPhoto) -> None:
        evidence = processed.evidence
        judged = await judge(
            photo, evidence.taken_at, evidence.latitude, evidence.longitude, self.rules
        )
        values: dict[Column | str, Any] = {
            "status": photo_queries.READY,
            "variants": [
                {
                    "name": v.name,
                    "mediaType": v.media_type,
                    "width": v.width,
                    "height": v.height,
                    "key": variant_key(v.sha256, v.media_type),
                }
                for v in processed.variants
            ],
            "taken_at": evidence.taken_at,
            "lat": evidence.latitude,
            "lng": evidence.longitude,
            "distance_meters": judged.distance_meters,
            "flags": judged.flags,
            "last_error": "",
            "original_key": photo["original_key"],
            "processed_at": datetime.now(UTC),
            # A direct (S3) upload is known only by its object until it is read here.
            "content_hash": photo["content_hash"] or processed.sha256,
            "width": photo["width"] or processed.width,
            "height": photo["height"] or processed.height,
        }
        await self._settle(photo, values, "ready")

    async def _failed(self, photo: dict[str, Any], exc: Exception) -> None:
        """Bad image data is final: ``rejected``, with its code. Anything else (the store or
        the database away for a while) is tried again later, backing off, until
        PHOTO_MAX_ATTEMPTS, then ``failed``."""
        if isinstance(exc, PhotoRejected):
            log.info("photo %s rejected: %s", photo["id"], exc.code)
            error = f"{exc.code}: {exc.detail}"
            rejected: dict[Column | str, Any] = {
                "status": photo_queries.REJECTED,
                "last_error": error,
                "original_key": photo["original_key"],
            }
            await self._settle(photo, rejected, photo_queries.REJECTED)
            return
        log.warning("photo %s attempt %d failed", photo["id"], photo["attempts"], exc_info=exc)
        retries = self.limits.queue.retries
        if retries.gives_up(photo["attempts"]):
            failed: dict[Column | str, Any] = {
                "status": photo_queries.FAILED,
                "last_error": _unavailable(exc),
            }
            await self._settle(photo, failed, "failed")
            return
        retry: dict[Column | str, Any] = {
            "status": photo_queries.QUEUED,
            "last_error": _unavailable(exc),
            "next_attempt_at": retries.next_attempt_at(photo["attempts"], datetime.now(UTC)),
        }
        count_photo_result("retry")
        async with write_transaction():
            await photo_queries.finish(str(photo["id"]), self.owner, retry)

    async def _settle(
        self, photo: dict[str, Any], values: dict[Column | str, Any], status: str
    ) -> None:
        """Record the outcome and move the job one version up, unless the lease was lost
        (another worker took the photo up again and settles it instead)."""
        photo_id, job_id = str(photo["id"]), str(photo["job"])
        count_photo_result(status)
        async with write_transaction():
            job = (await lock_jobs([job_id])).get(job_id)
            if not await photo_queries.finish(photo_id, self.owner, values):
                return
            if job is not None:
                writer = JobWriter(Actor())
                about = {"photo": {"id": photo_id, "kind": photo["kind"], "status": status}}
                writer.change(job, {}, "job.photo_processed", about=about)
                await writer.commit()


def processor_for(settings: Settings, store: ObjectStore, workers: int = 1) -> PhotoProcessor:
    return PhotoProcessor(
        store,
        ProcessingLimits(
            workers,
            LeasePolicy(
                timedelta(seconds=settings.photo_lease_seconds),
                RetryPolicy(settings.photo_max_attempts, FIRST_RETRY_SECONDS),
            ),
            settings.photo_max_bytes,
        ),
        EvidenceRules(
            settings.geofence_radius_meters,
            timedelta(minutes=settings.photo_visit_margin_minutes),
        ),
    )


def run_photo_processor(settings: Settings) -> None:
    """A process's whole life: take photos from the queue until SIGTERM or SIGINT. It runs
    at a lower CPU priority: when cores are short, answering requests comes first and photos
    wait a little (throughput on an idle machine is unchanged)."""
    run_in_background(lambda: _processing_photos(settings), NICENESS)


@asynccontextmanager
async def _processing_photos(settings: Settings) -> AsyncIterator[None]:
    async with engine_for(settings):
        store = object_store_for(settings)
        processor = processor_for(settings, store)
        processor.start()
        log.info("processing photos (lease %s s)", settings.photo_lease_seconds)
        yield
        await processor.stop()
        await store.close()


def _unavailable(exc: Exception) -> str:
    """What a dispatcher is told of an infrastructure failure (details stay in the log)."""
    return f"Could not be processed yet: storage or database unavailable ({type(exc).__name__})."


@dataclass(frozen=True)
class Judgement:
    distance_meters: float | None
    flags: list[str]


async def judge(
    photo: dict[str, Any],
    taken_at: datetime | None,
    lat: float | None,
    lng: float | None,
    rules: EvidenceRules,
) -> Judgement:
    """What a dispatcher should look at: a photo taken far from the job, or outside the
    uploader's visit (check-in to check-out, with a margin, on the server's clock), or one
    whose time or place cannot be told."""
    job = await photo_queries.job_place(str(photo["job"]))
    flags: list[str] = []
    distance = None
    if lat is None or lng is None:
        flags.append("no_location")
    elif job is not None and job["lat"] is not None and job["lng"] is not None:
        distance = round(haversine_meters(lat, lng, job["lat"], job["lng"]), 1)
        if distance > rules.geofence_radius_meters:
            flags.append("far_from_job")
    if taken_at is None:
        flags.append("no_capture_time")
        return Judgement(distance, flags)
    skew = await photo_queries.clock_skew(_text(photo["device_id"]))
    taken = taken_at - timedelta(seconds=skew or 0)
    visits = await photo_queries.visits(str(photo["job"]), str(photo["user_id"]))
    arrived = [v["recorded_time"] for v in visits if v["type"] == "in"]
    left = [v["recorded_time"] for v in visits if v["type"] == "out"]
    if not arrived:
        flags.append("no_check_in")
        return Judgement(distance, flags)
    start = min(arrived) - rules.visit_margin
    end = max(left) if left and max(left) > min(arrived) else photo["uploaded_at"]
    if not start <= taken <= end + rules.visit_margin:
        flags.append("outside_visit")
    return Judgement(distance, flags)


def _text(value: object) -> str | None:
    return None if value is None else str(value)
