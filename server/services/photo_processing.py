"""Turning uploaded photos into their variants, off the request path and durably.

The queue is the photo table itself (see ``db/queries/photos.py``): pending work survives a
restart, and on PostgreSQL several instances share it safely. Processing runs in processes of
its own, never in a process that answers requests: ``python -m server run`` starts
``PHOTO_PROCESSING_WORKERS`` of them beside its HTTP workers (Sanic manages them), and
``python -m server process-photos`` runs one alone, e.g. on another host. Decoding a 12 MP HEIC
takes a core for a second or two; the feed's event loop must not pay for it.

A photo that fails is tried again with a growing delay, up to ``PHOTO_MAX_ATTEMPTS``; then it
is ``failed``, with its error shown to dispatchers. When its variants are ready the job moves
one version up with a ``photo-processed`` event, so job details and live streams show them.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from piccolo.columns import Column

from server.config import Settings
from server.db.engine import engine_for, write_transaction
from server.db.queries import photos as photo_queries
from server.services.checkins import haversine_meters
from server.services.job_writes import Actor, JobWriter, lock_jobs
from server.services.photo_images import PhotoRejected, ProcessedPhoto, process_photo
from server.services.photos import variant_key
from server.storage.factory import object_store_for
from server.storage.objects import ObjectStore

log = logging.getLogger("tinedy.photos")

POLL_SECONDS = 0.5
FIRST_RETRY_SECONDS = 5.0
LONGEST_RETRY_SECONDS = 600.0


@dataclass(frozen=True)
class EvidenceRules:
    geofence_radius_meters: float
    visit_margin: timedelta


@dataclass(frozen=True)
class ProcessingLimits:
    workers: int
    max_attempts: int
    lease: timedelta


class PhotoProcessor:
    """A share of the processing queue: ``workers`` photos at a time, each decoded in a
    thread of this process (Pillow and libheif work outside the GIL)."""

    def __init__(self, store: ObjectStore, limits: ProcessingLimits, rules: EvidenceRules) -> None:
        self.store = store
        self.limits = limits
        self.rules = rules
        self.owner = uuid.uuid4().hex  # names this processor's leases
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name=f"photo-processor-{n}")
            for n in range(self.limits.workers)
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _run(self) -> None:
        while True:
            try:
                worked = await self.process_next()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the photo queue could not be read")
                worked = False
            if not worked:
                await asyncio.sleep(POLL_SECONDS)

    async def process_next(self) -> bool:
        """Claim and process one due photo; False when none is due."""
        now = datetime.now(UTC)
        if not await photo_queries.any_due(now):  # a read: no write lock while idle
            return False
        async with write_transaction():
            photo = await photo_queries.claim_next(self.owner, now, self.limits.lease)
        if photo is None:
            return False
        try:
            processed = await self._variants(photo)
        except Exception as exc:
            await self._failed(photo, exc)
            return True
        await self._ready(photo, processed)
        return True

    async def _variants(self, photo: dict[str, Any]) -> ProcessedPhoto:
        original = await self.store.get(photo["original_key"])
        if original is None:
            raise LookupError(f"the original {photo['original_key']} is missing")
        loop = asyncio.get_running_loop()
        processed = await loop.run_in_executor(None, process_photo, original)
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
            "processed_at": datetime.now(UTC),
        }
        await self._settle(photo, values, "ready")

    async def _failed(self, photo: dict[str, Any], exc: Exception) -> None:
        error = exc.detail if isinstance(exc, PhotoRejected) else f"{type(exc).__name__}: {exc}"
        final = isinstance(exc, PhotoRejected) or photo["attempts"] >= self.limits.max_attempts
        log.warning("photo %s attempt %d failed: %s", photo["id"], photo["attempts"], error)
        if final:
            await self._settle(
                photo, {"status": photo_queries.FAILED, "last_error": error}, "failed"
            )
            return
        delay = min(FIRST_RETRY_SECONDS * 2 ** (photo["attempts"] - 1), LONGEST_RETRY_SECONDS)
        retry: dict[Column | str, Any] = {
            "status": photo_queries.QUEUED,
            "last_error": error,
            "next_attempt_at": datetime.now(UTC) + timedelta(seconds=delay),
        }
        async with write_transaction():
            await photo_queries.finish(str(photo["id"]), self.owner, retry)

    async def _settle(
        self, photo: dict[str, Any], values: dict[Column | str, Any], status: str
    ) -> None:
        """Record the outcome and move the job one version up, unless the lease was lost
        (another worker took the photo up again and settles it instead)."""
        photo_id, job_id = str(photo["id"]), str(photo["job"])
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
            workers, settings.photo_max_attempts, timedelta(seconds=settings.photo_lease_seconds)
        ),
        EvidenceRules(
            settings.geofence_radius_meters,
            timedelta(minutes=settings.photo_visit_margin_minutes),
        ),
    )


def run_photo_processor(settings: Settings) -> None:
    """A process's whole life: take photos from the queue until SIGTERM or SIGINT."""
    asyncio.run(_process_photos(settings))


async def _process_photos(settings: Settings) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop_signal, stopping.set)
    async with engine_for(settings):
        store = object_store_for(settings)
        processor = processor_for(settings, store)
        processor.start()
        log.info("processing photos (lease %s s)", settings.photo_lease_seconds)
        await stopping.wait()
        await processor.stop()
        await store.close()


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
