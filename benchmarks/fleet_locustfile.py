"""Locust users of the fleet benchmark: phones working through a working day at a speed-up,
and dispatchers handing out work. ``benchmarks.fleet`` starts Locust on this file with
``FLEET_PLAN`` naming the plan (speed-up, tokens, jobs) and ``FLEET_OUTCOMES`` where to write
what the sync answers said; it is not meant to be started by hand.

A phone's day, 07:00 to 15:00: its job list revalidated every minute with If-None-Match, a live
stream held all day (reconnecting with Last-Event-ID should it drop), and for each of its
seven jobs (one an hour from 08:00, the whole round shifted by up to a quarter of an hour):
the detail opened, "en route", arrival (a check-in and two ticks), a "before" photo, the
other ticks and a note, an "after" photo, then "completed" with the check-out, each change
through ``POST /api/mobile/sync`` as the app sends it. A dispatcher, every two minutes of the
day, assigns a job of the branch's pool to someone else or re-prioritises someone's job.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import random
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gevent  # type: ignore[import-untyped]
from locust import FastHttpUser, constant, events, task
from locust.env import Environment
from PIL import Image

PLAN: dict[str, Any] = json.loads(Path(os.environ["FLEET_PLAN"]).read_text())
SPEEDUP: float = PLAN["speedup"]
DAY_START_MIN = 7 * 60
DAY_END_MIN = 15 * 60
FIRST_JOB_MIN = 8 * 60
DISPATCH_EVERY_MIN = 2.0
LIVE_PATH = "/api/mobile/live-updates"
RECONNECT_S = 1.0
STREAM_TIMEOUT_S = 60.0  # four heartbeats
EVENT_LATE_S = 30.0  # an event later than this counts as lost, not as a latency
PRIORITIES = ("normal", "high", "urgent")
# The events a dispatcher's change makes on its phone, and which change.
CAUSED_BY = {
    "job-assigned": "assign",
    "job-updated": "re-prioritise",
    "priority-alert": "re-prioritise",
}

OUTCOMES: Counter[str] = Counter()
FAILED_EXAMPLES: list[dict[str, Any]] = []
# job id -> (when the dispatcher's request started, what it changed); read by the phones'
# streams to time the event's arrival. One Locust process holds both, so a dict serves.
DISPATCHED: dict[str, tuple[float, str]] = {}
ASSIGNEE: dict[str, str] = {}
PRIORITY: dict[str, str] = {}
_phone_seats = itertools.count()
_office_seats = itertools.count()


def day_seconds(minutes: float) -> float:
    """Real seconds for ``minutes`` of the working day."""
    return minutes * 60 / SPEEDUP


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat()


def _camera_jpeg() -> bytes:
    """A 640x480 JPEG that compresses like a photo (noise over a gradient)."""
    rng = random.Random(7)
    image = Image.linear_gradient("L").resize((640, 480)).convert("RGB")
    noise = Image.frombytes("RGB", (640, 480), rng.randbytes(640 * 480 * 3))
    out = io.BytesIO()
    Image.blend(image, noise, 0.3).save(out, "JPEG", quality=85)
    return out.getvalue()


JPEG = _camera_jpeg()


def distinct_photo() -> bytes:
    """The photo with a comment segment of its own: photos are stored by content, and each
    photo a phone takes is a new one."""
    comment = uuid.uuid4().hex.encode()
    return JPEG[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + JPEG[2:]


class LiveStream:
    """A phone's SSE stream on a socket of its own (gevent makes it cooperative), so each
    event is seen the moment its bytes arrive. Reports the time to the answer's headers as
    the endpoint's latency, a stream that ends early as its error, and the arrival of events
    that a dispatcher caused, timed from the dispatcher's request."""

    def __init__(self, user: Phone) -> None:
        self.user = user
        self.last_id = ""
        self.buffer = b""
        self.events = b""

    def run(self) -> None:
        while True:
            try:
                self._follow()
                error: Exception = ConnectionError("the server ended the stream")
            except OSError as exc:
                error = exc
            self.user.report("GET", LIVE_PATH, 0.0, error)
            gevent.sleep(RECONNECT_S)

    def _follow(self) -> None:
        parts = urlsplit(str(self.user.host))
        self.buffer = self.events = b""
        started = time.perf_counter()
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
            sock.settimeout(STREAM_TIMEOUT_S)
            resume = f"Last-Event-ID: {self.last_id}\r\n" if self.last_id else ""
            sock.sendall(
                f"GET {LIVE_PATH} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                f"Authorization: Bearer {self.user.token}\r\n"
                f"Accept: text/event-stream\r\n{resume}\r\n".encode()
            )
            head = b""
            while b"\r\n\r\n" not in head:
                if not (data := sock.recv(65536)):
                    return
                head += data
            head, self.buffer = head.split(b"\r\n\r\n", 1)
            status = int(head.split(b" ", 2)[1])
            if status != 200:
                raise ConnectionError(f"status {status}")
            self.user.report("GET", LIVE_PATH, (time.perf_counter() - started) * 1000, None)
            self._unchunk()
            while data := sock.recv(65536):
                self.buffer += data
                self._unchunk()

    def _unchunk(self) -> None:
        """Take whole chunks off the buffer and pass on each whole event (a chunk may end
        inside one, even inside a character, once nginx has passed it on)."""
        while (end := self.buffer.find(b"\r\n")) >= 0:
            size = int(self.buffer[:end].split(b";")[0], 16)
            if len(self.buffer) < end + 2 + size + 2:
                return
            self.events += self.buffer[end + 2 : end + 2 + size]
            self.buffer = self.buffer[end + 2 + size + 2 :]
            while b"\n\n" in self.events:
                block, self.events = self.events.split(b"\n\n", 1)
                self._event(block.decode())

    def _event(self, block: str) -> None:
        fields = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
        self.last_id = fields.get("id", self.last_id)
        what = CAUSED_BY.get(fields.get("event", ""))
        if what is None or "data" not in fields:
            return
        data = json.loads(fields["data"])
        job_id = str(data["job"]["id"])
        sent = DISPATCHED.get(job_id)
        if sent is None or sent[1] != what:
            return
        if what == "re-prioritise" and "priority" not in data.get("changed", []):
            return  # the phone's own change of the job, arriving first
        del DISPATCHED[job_id]
        waited = time.perf_counter() - sent[0]
        error = None if waited < EVENT_LATE_S else TimeoutError("event too late")
        self.user.report("SSE", f"event after {what}", waited * 1000, error)


class Phone(FastHttpUser):
    """One phone of the fleet, signed in as its own staff member."""

    wait_time = constant(0)
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        seat = PLAN["phones"][next(_phone_seats) % len(PLAN["phones"])]
        self.token: str = seat["token"]
        self.device_id: str = seat["deviceId"]
        self.job_ids: list[str] = seat["jobs"]
        self.client.auth_header = f"Bearer {self.token}"
        self.jobs: dict[str, dict[str, Any]] = {}
        self.etag = ""
        self.day_began = time.monotonic()
        self.stream = gevent.spawn(LiveStream(self).run)

    def on_stop(self) -> None:
        self.stream.kill(block=False)

    def report(self, method: str, name: str, ms: float, error: Exception | None) -> None:
        """A timing Locust did not take itself (the stream, the events)."""
        self.environment.events.request.fire(
            request_type=method,
            name=name,
            response_time=ms,
            response_length=0,
            exception=error,
            context={},
        )

    def agenda(self) -> list[tuple[float, Callable[[], None]]]:
        """The day's actions by minute of the day, in order."""
        shift = random.uniform(-15, 15)
        steps: list[tuple[float, Callable[[], None]]] = [
            (minute + random.uniform(0, 1), self.revalidate)
            for minute in range(DAY_START_MIN, DAY_END_MIN)
        ]
        for hour, job_id in enumerate(self.job_ids):
            start = FIRST_JOB_MIN + 60 * hour + shift
            for offset, action in (
                (-45, self.open_job),
                (-30, self.en_route),
                (0, self.arrive),
                (5, self.photo_before),
                (30, self.tick_rest),
                (42, self.photo_after),
                (48, self.complete),
            ):
                steps.append((start + offset, partial(action, job_id)))
        return sorted(steps, key=lambda step: step[0])

    @task
    def work_day(self) -> None:
        for minute, action in self.agenda():
            wait = self.day_began + day_seconds(minute - DAY_START_MIN) - time.monotonic()
            if wait > 0:
                gevent.sleep(wait)
            action()
        gevent.sleep(3600)  # the day is over; Locust's run time ends the test

    def revalidate(self) -> None:
        headers = {"If-None-Match": self.etag} if self.etag else {}
        response = self.client.get(
            f"/api/mobile/jobs?from={PLAN['today']}&limit=50",
            headers=headers,
            name="GET /api/mobile/jobs",
        )
        if response.status_code == 200:
            self.etag = str(response.headers.get("etag", "")) if response.headers else ""

    def open_job(self, job_id: str) -> None:
        response = self.client.get(f"/api/mobile/jobs/{job_id}", name="GET /api/mobile/jobs/{id}")
        if response.status_code == 200:
            detail = response.json()
            self.jobs[job_id] = {
                "version": detail["job"]["version"],
                "items": [item["id"] for item in detail["checklistItems"]],
                "location": detail["location"],
                "photos": [],
            }

    def sync(self, job_id: str, update: dict[str, Any], check_in: str | None = None) -> None:
        job = self.jobs.get(job_id)
        if job is None:
            return  # its detail never came: the phone cannot work on it
        body: dict[str, Any] = {
            "deviceId": self.device_id,
            "deviceTime": now_rfc3339(),
            "pendingUpdates": [],
            "photos": [
                {"mutationId": uuid.uuid4().hex, "jobId": job_id, "photoId": photo}
                for photo in job.pop("photos")
            ],
            "checkIns": [],
        }
        job["photos"] = []
        if update:
            body["pendingUpdates"].append(
                {
                    "mutationId": uuid.uuid4().hex,
                    "jobId": job_id,
                    "baseVersion": job["version"],
                    "clientTimestamp": now_rfc3339(),
                    **update,
                }
            )
        if check_in:
            body["checkIns"].append(
                {
                    "mutationId": uuid.uuid4().hex,
                    "jobId": job_id,
                    "type": check_in,
                    "location": job["location"],
                    "accuracy": 12.0,
                    "timestamp": now_rfc3339(),
                }
            )
        response = self.client.post("/api/mobile/sync", json=body, name="POST /api/mobile/sync")
        if response.status_code == 200:
            self.tally(response.json())

    def tally(self, answer: dict[str, Any]) -> None:
        OUTCOMES["synced"] += len(answer["synced"])
        OUTCOMES["conflicts"] += len(answer["conflicts"])
        OUTCOMES["failed"] += len(answer["failed"])
        if answer["failed"] and len(FAILED_EXAMPLES) < 5:
            FAILED_EXAMPLES.append(answer["failed"][0])

    def ticks(self, job_id: str, first: int, last: int) -> list[dict[str, Any]]:
        items = self.jobs.get(job_id, {}).get("items", [])[first:last]
        return [{"itemId": item, "done": True} for item in items]

    def en_route(self, job_id: str) -> None:
        self.sync(job_id, {"status": "en_route"})

    def arrive(self, job_id: str) -> None:
        self.sync(job_id, {"checklist": self.ticks(job_id, 0, 2)}, check_in="in")

    def tick_rest(self, job_id: str) -> None:
        update = {"checklist": self.ticks(job_id, 2, 99), "notes": "เสร็จเรียบร้อย · all done"}
        self.sync(job_id, update)

    def complete(self, job_id: str) -> None:
        self.sync(job_id, {"status": "completed"}, check_in="out")

    def photo_before(self, job_id: str) -> None:
        self.photo(job_id, "before")

    def photo_after(self, job_id: str) -> None:
        self.photo(job_id, "after")

    def photo(self, job_id: str, kind: str) -> None:
        """Ask for an upload URL, PUT the bytes; the next sync attaches the photo."""
        if job_id not in self.jobs:
            return
        response = self.client.post(
            f"/api/mobile/jobs/{job_id}/photos/upload-url",
            json={"kind": kind, "contentType": "image/jpeg"},
            name="POST /api/mobile/jobs/{id}/photos/upload-url",
        )
        if response.status_code != 201:
            return
        grant = response.json()
        upload = urlsplit(grant["uploadUrl"])
        path = upload.path + (f"?{upload.query}" if upload.query else "")
        put = self.client.request(
            "PUT",
            path,
            data=distinct_photo(),  # type: ignore[arg-type]  # bytes go through as they are
            headers={"Content-Type": "image/jpeg"},
            name="PUT /api/mobile/photos/uploads/{token}",
        )
        if put.status_code == 202:
            self.jobs[job_id]["photos"].append(grant["photoId"])


class Dispatcher(FastHttpUser):
    """A dispatcher of one branch, acting every two minutes of the day."""

    fixed_count = len(PLAN["dispatchers"])
    wait_time = constant(day_seconds(DISPATCH_EVERY_MIN))
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        seat = PLAN["dispatchers"][next(_office_seats) % len(PLAN["dispatchers"])]
        self.client.auth_header = f"Bearer {seat['token']}"
        branch = seat["branch"]
        self.pool: list[str] = PLAN["pool"][branch]
        self.staff: list[str] = PLAN["staff"][branch]
        self.round: list[str] = PLAN["rounds"][branch]

    @task
    def assign(self) -> None:
        job_id = random.choice(self.pool)
        assignee = random.choice([s for s in self.staff if s != ASSIGNEE.get(job_id)])
        DISPATCHED[job_id] = (time.perf_counter(), "assign")
        response = self.client.post(
            f"/api/dispatch/jobs/{job_id}/assign",
            json={"assigneeId": assignee},
            name="POST /api/dispatch/jobs/{id}/assign",
        )
        if response.status_code == 200:
            ASSIGNEE[job_id] = assignee

    @task
    def reprioritise(self) -> None:
        job_id = random.choice(self.round)
        now = PRIORITY.get(job_id, "normal")
        priority = random.choice([p for p in PRIORITIES if p != now])
        DISPATCHED[job_id] = (time.perf_counter(), "re-prioritise")
        response = self.client.request(
            "PATCH",
            f"/api/dispatch/jobs/{job_id}",
            json={"priority": priority},
            name="PATCH /api/dispatch/jobs/{id}",
        )
        if response.status_code == 200:
            PRIORITY[job_id] = priority


def write_outcomes(environment: Environment, **kwargs: Any) -> None:
    """What the sync answers said, for the runner to read."""
    doc = {"outcomes": dict(OUTCOMES), "failedExamples": FAILED_EXAMPLES}
    Path(os.environ["FLEET_OUTCOMES"]).write_text(json.dumps(doc, indent=2))


events.test_stop.add_listener(write_outcomes)  # type: ignore[no-untyped-call]  # locust leaves it bare
