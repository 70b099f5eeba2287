"""Photo processing: throughput per core, and the jobs feed's p99 while processing runs.

Part one, ``throughput``: each photo is a camera-sized (4032×3024) frame of noise over a
gradient, so it compresses about as badly as a real one, with EXIF orientation 6, capture time
and GPS. A ProcessPoolExecutor of N workers runs ``process_photo`` (upright, thumb and display
variants in WebP and, where built, AVIF; evidence) on it, as the photo queue will, with 2×N
photos in flight until the count or the time bound is reached. Photos/s per core is the pool's
throughput divided by N; the per-photo time is measured inside the workers.

Part two, ``feed``: a fresh PostgreSQL database with the demo data, and ``python -m server run``
with one HTTP worker and ``--processors`` photo processors (PHOTO_PROCESSING_WORKERS; by default
the cores but one, at least one). wrk reads a staff member's first feed page, as
benchmarks.feed does, for a bounded window twice: idle, with no photo anywhere, and busy,
once that staff member has uploaded the same 12 MP photos (JPEG and HEIC in turn, each made
distinct by its capture time) to their own jobs until ``--backlog`` wait in the queue. During
the busy window the queue is read from the database, not through the server being measured,
and topped up by uploads if it runs low; the photos' statuses in the job details before and
after the window count the photos processed during it. The product's target: the busy p99 at
most twice the idle p99.

Part three, ``uploads``: how soon an upload is answered. The same server (fresh database, local
store) takes ``--uploads`` 12 MP photos of each format, each ``PUT`` to its upload URL timed from
the request's first byte to the answer's last (loopback, a new connection each, as a phone
makes), in three windows: idle, busy and saturated, while wrk reads the feed at ``--connections``
and the processors
work through the photos the earlier windows queued. The same-run baselines: the upload-URL request
before each upload (a tiny JSON POST with a database write, to the same server), the same
bytes PUT to a tampered upload URL (refused only once the body is in: what taking 5 MB in
costs by itself), and the full decode the door used to do before answering (``inspect_photo``
in this process, the floor of the old answer). Busy is wrk paced to ``--load-share`` of the
feed's measured capacity (a bounded load, as a fleet of phones is); saturated is wrk flat out.
The product's target: every upload's busy p99 under 200 ms.

Run from the repository root:
    .venv/bin/python -m benchmarks.photos --part both --workers 2 --count 40
"""

import argparse
import asyncio
import http.client
import io
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pillow_heif
from aiobotocore.session import get_session
from botocore.exceptions import EndpointConnectionError
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from PIL import ExifTags, Image

from benchmarks.harness import (
    FEED_PATH,
    HOST,
    LUA_SCRIPT,
    Scenario,
    add_feed_window_options,
    add_run_options,
    api,
    check,
    failures_end_run,
    feed_figures,
    feed_wrk_args,
    free_port,
    idle_window,
    keep_results,
    login,
    plot_feed,
    prepare_out,
    print_feed_windows,
    request,
    require_wrk,
    results_doc,
    run_wrk,
    server_env,
    serving_fresh,
    staff_first_page,
    titled,
    wrk_in_background,
)
from server.photos.images import inspect_photo, process_photo, variant_formats

WIDTH, HEIGHT = 4032, 3024
# About what phones write: a 12 MP JPEG of 4–7 MB, a HEIC of half that or less.
SAVE_OPTIONS: dict[str, dict[str, Any]] = {"JPEG": {"quality": 90}, "HEIF": {"quality": 60}}
MEDIA_TYPES = {"jpeg": "image/jpeg", "heic": "image/heic"}
CAPTURE_TIME = b"2026:11:20 09:15:00"
PARTS = {
    "throughput": ("throughput",),
    "feed": ("feed",),
    "uploads": ("uploads",),
    "both": ("throughput", "feed", "uploads"),
}
STAFF = "staff1@demo.local"
HTTP_WORKERS = 1
UPLOAD_JOBS = 8  # the staff member's first jobs, photos spread over them in turn
LOW_WATER = 4  # fewer photos waiting than this during the busy window: upload one more
SAMPLE_S = 0.5
FILL_TIMEOUT_S = 300.0
WRK_GRACE_S = 60.0
P99_TARGET_RATIO = 2.0
UPLOAD_P99_TARGET_MS = 200.0
LABELS = {
    "ask_upload_url": "upload-url POST",
    "body_refused": "PUT to a bad URL",
}
SHORT_LABELS = {"ask_upload_url": "ask", "body_refused": "refused"}
WINDOWS = ("idle", "busy", "saturated")
CAPACITY_S = 5
MOTO_NICENESS = 10
OLD_DOOR_RUNS = 3


def parse_args() -> argparse.Namespace:
    """Read the run settings; by default one pool worker per core, one processor fewer."""
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=sorted(PARTS), default="both")
    parser.add_argument("--workers", type=int, default=cores, help="throughput: pool processes")
    parser.add_argument("--count", type=int, default=40, help="throughput: photos per format")
    parser.add_argument("--duration", type=float, default=60.0, help="throughput: s per format")
    parser.add_argument(
        "--processors", type=int, default=max(1, cores - 1), help="feed: PHOTO_PROCESSING_WORKERS"
    )
    add_feed_window_options(parser, 15, "feed: ")
    parser.add_argument("--backlog", type=int, default=24, help="feed: photos waiting, at least")
    parser.add_argument("--max-uploads", type=int, default=120, help="feed: uploads, at most")
    parser.add_argument(
        "--uploads", type=int, default=20, help="uploads: photos per format per window"
    )
    parser.add_argument(
        "--stores",
        choices=("local", "s3", "local,s3"),
        default="local,s3",
        help="uploads: PHOTO_STORE each (s3: moto's server on loopback)",
    )
    parser.add_argument(
        "--load-share",
        type=float,
        default=0.5,
        help="uploads: the busy window's feed load, a share of its measured capacity",
    )
    add_run_options(parser, "tinedy_photo_bench")
    args = parser.parse_args()
    counts = (
        args.workers,
        args.count,
        args.duration,
        args.processors,
        args.feed_duration,
        args.uploads,
    )
    if min(counts) <= 0 or min(args.backlog, args.connections, args.threads) < 1:
        parser.error("counts, durations and connections must be positive")
    if not args.backlog <= args.max_uploads <= 3600:
        parser.error("--max-uploads must lie between --backlog and 3600")
    return args


def camera_frame() -> Image.Image:
    """Noise over a gradient: detail everywhere, like foliage or a tiled floor."""
    noise = Image.effect_noise((WIDTH, HEIGHT), 24).convert("RGB")
    gradient = Image.linear_gradient("L").resize((WIDTH, HEIGHT)).convert("RGB")
    return Image.blend(noise, gradient, 0.5)


def camera_exif() -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "2026:11:20 09:15:00"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps.update({1: "N", 2: (13.0, 45.0, 36.0), 3: "E", 4: (100.0, 30.0, 5.4)})
    return exif.tobytes()


def camera_photo(frame: Image.Image, file_format: str) -> bytes:
    pillow_heif.register_heif_opener()
    buffer = io.BytesIO()
    frame.save(buffer, format=file_format, exif=camera_exif(), **SAVE_OPTIONS[file_format])
    return buffer.getvalue()


def timed_process(data: bytes) -> tuple[float, int]:
    """Seconds one worker spent on a photo, and the bytes of the variants it made."""
    started = time.perf_counter()
    processed = process_photo(data)
    return time.perf_counter() - started, sum(len(v.data) for v in processed.variants)


def run_format(pool: ProcessPoolExecutor, data: bytes, args: argparse.Namespace) -> dict[str, Any]:
    """Keep 2×N photos in flight until ``count`` are done or ``duration`` has passed."""
    for warm in [pool.submit(timed_process, data) for _ in range(args.workers)]:
        warm.result()
    pending: set[Future[tuple[float, int]]] = set()
    done: list[tuple[float, int]] = []
    submitted, started = 0, time.perf_counter()
    deadline = started + args.duration
    while submitted == 0 or pending:
        while (
            submitted < args.count
            and len(pending) < 2 * args.workers
            and (submitted == 0 or time.perf_counter() < deadline)
        ):
            pending.add(pool.submit(timed_process, data))
            submitted += 1
        finished, pending = wait(pending, return_when=FIRST_COMPLETED)
        done.extend(future.result() for future in finished)
    elapsed = time.perf_counter() - started
    seconds = [spent for spent, _ in done]
    return {
        "photos": len(done),
        "elapsed_s": round(elapsed, 3),
        "photos_per_s": round(len(done) / elapsed, 3),
        "photos_per_s_per_core": round(len(done) / elapsed / args.workers, 3),
        "per_photo_ms_median": round(statistics.median(seconds) * 1000, 1),
        "per_photo_ms_max": round(max(seconds) * 1000, 1),
        "input_bytes": len(data),
        "variant_bytes": done[0][1],
    }


def run_throughput(photos: dict[str, bytes], args: argparse.Namespace) -> dict[str, Any]:
    """Part one: every format through the same pool."""
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        return {name: run_format(pool, data, args) for name, data in photos.items()}


def print_throughput(results: dict[str, dict[str, Any]], workers: int) -> None:
    print(
        f"{'format':<6} {'photos':>6} {'photos/s':>9} {'per core':>9} {'ms/photo':>9} {'MB in':>6}"
    )
    for name, row in results.items():
        print(
            f"{name:<6} {row['photos']:>6} {row['photos_per_s']:>9.2f}"
            f" {row['photos_per_s_per_core']:>9.2f} {row['per_photo_ms_median']:>9.1f}"
            f" {row['input_bytes'] / 1e6:>6.1f}"
        )
    print(f"({workers} workers; variants: {', '.join(variant_formats())})")


def distinct_copy(data: bytes, n: int) -> bytes:
    """The photo taken ``n`` seconds later: other bytes (the server keeps one photo per job for
    the same bytes) without encoding again, which takes half a minute for a 12 MP HEIC."""
    hours, seconds = divmod(n, 3600)
    stamp = f"2026:11:20 {9 + hours:02d}:{seconds // 60:02d}:{seconds % 60:02d}"
    return data.replace(CAPTURE_TIME, stamp.encode(), 1)


@dataclass
class Uploader:
    """A staff member's phone: the photos in turn, each made distinct, over their own jobs."""

    port: int
    token: str
    jobs: list[str]
    photos: list[tuple[str, bytes]]
    uploaded: list[str] = field(default_factory=list)

    def upload_next(self) -> None:
        """Ask for an upload URL and PUT the bytes to it, as the app does."""
        n = len(self.uploaded)
        media_type, data = self.photos[n % len(self.photos)]
        job = self.jobs[n % len(self.jobs)]
        ask = {"kind": "before", "contentType": media_type}
        grant = api(self.port, self.token, "POST", f"{FEED_PATH}/{job}/photos/upload-url", 201, ask)
        headers = {"Content-Type": media_type}
        sent = request(self.port, "PUT", grant["uploadUrl"], headers, distinct_copy(data, n))
        if sent.status != 202:
            raise RuntimeError(f"upload {n}: {sent.status} {sent.body[:300]!r}")
        self.uploaded.append(grant["photoId"])

    def statuses(self) -> Counter[str]:
        """The photos' statuses as the job details show them."""
        counts: Counter[str] = Counter()
        for job in self.jobs:
            detail = api(self.port, self.token, "GET", f"{FEED_PATH}/{job}", 200)
            counts.update(photo["status"] for photo in detail["photos"])
        return counts


async def queue_counts(conn: Any) -> dict[str, int]:
    """Photos by status, read from the database so the server being measured is not asked."""
    rows = await conn.fetch("SELECT status, count(*) AS n FROM photo GROUP BY status")
    return {row["status"]: row["n"] for row in rows}


def waiting(counts: dict[str, int]) -> int:
    return counts.get("queued", 0) + counts.get("processing", 0)


async def fill_backlog(conn: Any, uploader: Uploader, args: argparse.Namespace) -> None:
    """Upload until ``--backlog`` photos wait; the processors take them up as they come."""
    deadline = time.monotonic() + FILL_TIMEOUT_S
    while len(uploader.uploaded) < args.max_uploads and time.monotonic() < deadline:
        if waiting(await queue_counts(conn)) >= args.backlog:
            return
        await asyncio.to_thread(uploader.upload_next)


async def watch(
    conn: Any, wrk: "asyncio.Task[dict[str, Any]]", uploader: Uploader, args: argparse.Namespace
) -> tuple[list[dict[str, Any]], int]:
    """Sample the queue while wrk runs, and upload one more photo when few wait."""
    started = time.monotonic()
    deadline = started + args.feed_duration + WRK_GRACE_S
    samples: list[dict[str, Any]] = []
    topped_up = 0
    while not wrk.done() and time.monotonic() < deadline:
        counts = await queue_counts(conn)
        samples.append({"t_s": round(time.monotonic() - started, 2), **counts})
        if waiting(counts) < LOW_WATER and len(uploader.uploaded) < args.max_uploads:
            await asyncio.to_thread(uploader.upload_next)
            topped_up += 1
        await asyncio.wait({wrk}, timeout=SAMPLE_S)
    return samples, topped_up


async def busy_window(
    uploader: Uploader, scenario: Scenario, wrk_args: argparse.Namespace, args: argparse.Namespace
) -> dict[str, Any]:
    """Fill the queue, then measure the feed while the processors work through it."""
    conn = await asyncpg.connect(args.database_url)
    try:
        print(f"~ feed busy: uploading until {args.backlog} photos wait", flush=True)
        await fill_backlog(conn, uploader, args)
        filled = len(uploader.uploaded)
        before = await asyncio.to_thread(uploader.statuses)
        print(f"~ feed busy: {filled} uploaded, measure {wrk_args.duration} s", flush=True)
        started = time.monotonic()
        wrk = wrk_in_background(scenario, wrk_args)
        samples, topped_up = await watch(conn, wrk, uploader, args)
        stats = await wrk
        window_s = time.monotonic() - started
        after = await asyncio.to_thread(uploader.statuses)
    finally:
        await conn.close()
    photos = window_photos(before, after, samples, window_s)
    return {
        "busy": feed_figures(stats),
        "photos": {"uploaded_before": filled, "uploaded_during": topped_up, **photos},
        "samples": samples,
    }


def window_photos(
    before: Counter[str], after: Counter[str], samples: list[dict[str, Any]], window_s: float
) -> dict[str, Any]:
    """How many photos the processors finished in the window, by the job details' statuses.
    None fails the run; a queue that ran dry during the window shows in ``busy_throughout``."""
    done = sum(after[s] - before[s] for s in ("ready", "failed"))
    if done <= 0:
        raise RuntimeError(f"no photo was processed during the busy window: {before} -> {after}")
    return {
        "statuses_before": dict(before),
        "statuses_after": dict(after),
        "processed": done,
        "window_s": round(window_s, 2),
        "photos_per_s": round(done / window_s, 3),
        "waiting_min": min(waiting(s) for s in samples),
        "busy_throughout": min(waiting(s) for s in samples) > 0,
    }


def staff_jobs(port: int, token: str) -> list[str]:
    page = api(port, token, "GET", FEED_PATH, 200)
    return [job["id"] for job in page["jobs"][:UPLOAD_JOBS]]


def measure_feed(port: int, photos: dict[str, bytes], args: argparse.Namespace) -> dict[str, Any]:
    """The staff feed idle, then busy; the busy/idle p99 ratio against the target."""
    token = login(port, STAFF)
    scenario = staff_first_page(port, token)
    wrk_args = feed_wrk_args(args)
    idle = idle_window(scenario, wrk_args)
    shots = [(MEDIA_TYPES[name], data) for name, data in photos.items()]
    uploader = Uploader(port, token, staff_jobs(port, token), shots)
    busy = asyncio.run(busy_window(uploader, scenario, wrk_args, args))
    ratio = busy["busy"]["p99_ms"] / idle["p99_ms"]
    return {
        "idle": idle,
        **busy,
        "p99_ratio": round(ratio, 2),
        "p99_target_ratio": P99_TARGET_RATIO,
        "within_target": ratio <= P99_TARGET_RATIO,
    }


def run_feed(photos: dict[str, bytes], args: argparse.Namespace) -> dict[str, Any]:
    """Part two: fresh database, the server and its processors, always stopped."""
    if any(data.count(CAPTURE_TIME) != 1 for data in photos.values()):
        raise SystemExit("the capture time that makes each photo distinct is not in its EXIF")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="photo-bench-") as data_dir:
        env = {
            **server_env(args.database_url, port, HTTP_WORKERS),
            "DATA_DIR": data_dir,
            "PHOTO_STORE": "local",
            "PHOTO_PROCESSING_WORKERS": str(args.processors),
        }
        with serving_fresh(args.database_url, env, port, args.out / "photo-server.log"):
            return measure_feed(port, photos, args)


def print_feed(feed: dict[str, Any], args: argparse.Namespace) -> None:
    print_feed_windows(feed)
    photos = feed["photos"]
    verdict = "within" if feed["within_target"] else "MISSES"
    print(f"busy/idle p99: {feed['p99_ratio']:.2f} ({verdict} the target of {P99_TARGET_RATIO})")
    print(
        f"processed in the busy window: {photos['processed']} photos in {photos['window_s']} s"
        f" ({photos['photos_per_s']:.2f}/s); fewest waiting {photos['waiting_min']};"
        f" uploaded {photos['uploaded_before']} before, {photos['uploaded_during']} during"
    )
    print(
        f"(staff first page, wrk -t{args.threads} -c{args.connections} -d{args.feed_duration}s;"
        f" WORKERS={HTTP_WORKERS}, PHOTO_PROCESSING_WORKERS={args.processors})"
    )


# Part three: the upload's answer time


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (with 25 samples, p99 is the slowest)."""
    ranked = sorted(values)
    return ranked[max(0, math.ceil(share * len(ranked)) - 1)]


def latency(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 0.5), 1),
        "p99_ms": round(percentile(values, 0.99), 1),
        "max_ms": round(max(values), 1),
    }


@dataclass
class TimedPhone:
    """A phone uploading photos one after another: each upload-URL request and each PUT timed."""

    port: int
    token: str
    jobs: list[str]
    sent: int = 0
    asks: list[float] = field(default_factory=list)
    bodies: list[float] = field(default_factory=list)  # the same bytes to a refused URL
    puts: dict[str, list[float]] = field(default_factory=dict)

    def upload(self, name: str, data: bytes) -> None:
        job = self.jobs[self.sent % len(self.jobs)]
        body = distinct_copy(data, 10_000 + self.sent)  # made before the clock starts
        self.sent += 1
        ask = {"kind": "before", "contentType": MEDIA_TYPES[name]}
        started = time.perf_counter()
        grant = api(self.port, self.token, "POST", f"{FEED_PATH}/{job}/photos/upload-url", 201, ask)
        asked = time.perf_counter()
        if grant["completeUrl"]:  # PHOTO_STORE=s3: the bytes to the bucket, then the app
            put_in_bucket(grant["uploadUrl"], grant["uploadHeaders"], body)
            asked = time.perf_counter()
            answer = request(self.port, "POST", grant["completeUrl"], {}, b"")
        else:
            answer = request(self.port, "PUT", grant["uploadUrl"], grant["uploadHeaders"], body)
        answered = time.perf_counter()
        if answer.status != 202:
            raise RuntimeError(f"upload {self.sent}: {answer.status} {answer.body[:300]!r}")
        self.asks.append((asked - started) * 1000)
        self.puts.setdefault(name, []).append((answered - asked) * 1000)
        if not grant["completeUrl"]:
            self.bodies.append(self._refused(grant["uploadUrl"], grant["uploadHeaders"], body))

    def _refused(self, url: str, headers: dict[str, str], body: bytes) -> float:
        """The same bytes to a tampered upload URL: ms until the refusal."""
        started = time.perf_counter()
        refused = request(self.port, "PUT", url + "x", headers, body)
        if refused.status != 403:
            raise RuntimeError(f"a tampered upload URL: {refused.status} {refused.body[:300]!r}")
        return (time.perf_counter() - started) * 1000

    def figures(self) -> dict[str, Any]:
        return {
            "ask_upload_url": latency(self.asks),
            **({"body_refused": latency(self.bodies)} if self.bodies else {}),
            **{name: latency(times) for name, times in self.puts.items()},
        }


def put_in_bucket(url: str, headers: dict[str, str], body: bytes) -> None:
    """The phone's PUT to the bucket's presigned URL (not the app: not timed)."""
    where = urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname or HOST, where.port, timeout=30)
    try:
        conn.request("PUT", f"{where.path}?{where.query}", body=body, headers=headers)
        answer = conn.getresponse()
        if answer.status != 200:
            raise RuntimeError(f"the bucket's PUT: {answer.status} {answer.read()[:300]!r}")
        answer.read()
    finally:
        conn.close()


@contextmanager
def moto_bucket(log_path: Path) -> Iterator[dict[str, str]]:
    """moto's S3 server on loopback with a fresh bucket: the store's settings. It stands in
    for a bucket on machines of its own, so it runs at a lower priority than the server being
    measured (moto is Python: taking in a 5 MB object costs it a core for a while)."""
    port = free_port()
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: os.nice(MOTO_NICENESS),
        )
    endpoint = f"http://{HOST}:{port}"
    settings = {
        "PHOTO_STORE": "s3",
        "PHOTO_BUCKET": "bench-photos",
        "PHOTO_BUCKET_ENDPOINT_URL": endpoint,
        "PHOTO_BUCKET_ACCESS_KEY_ID": "bench",
        "PHOTO_BUCKET_SECRET_ACCESS_KEY": "bench-secret",
    }
    try:
        asyncio.run(create_bucket(settings))
        yield settings
    finally:
        server.terminate()
        server.wait(timeout=10)


async def create_bucket(settings: dict[str, str]) -> None:
    """Once moto answers (it takes a second or two to start)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            async with get_session().create_client(
                "s3",
                endpoint_url=settings["PHOTO_BUCKET_ENDPOINT_URL"],
                region_name="us-east-1",
                aws_access_key_id=settings["PHOTO_BUCKET_ACCESS_KEY_ID"],
                aws_secret_access_key=settings["PHOTO_BUCKET_SECRET_ACCESS_KEY"],
            ) as s3:
                await s3.create_bucket(Bucket=settings["PHOTO_BUCKET"])
                return
        except (OSError, EndpointConnectionError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


def upload_turns(photos: dict[str, bytes], per_format: int) -> list[tuple[str, bytes]]:
    """The formats in turn, ``per_format`` of each."""
    return [item for _ in range(per_format) for item in photos.items()]


def idle_uploads(phone: TimedPhone, photos: dict[str, bytes], args: argparse.Namespace) -> None:
    print(f"~ uploads idle: {args.uploads} of each format", flush=True)
    phone.upload(*next(iter(photos.items())))  # warm-up, not counted
    phone.asks.clear()
    phone.bodies.clear()
    phone.puts.clear()
    for name, data in upload_turns(photos, args.uploads):
        phone.upload(name, data)


def paced_wrk(scenario: Scenario, wrk_args: argparse.Namespace, delay_ms: int) -> dict[str, Any]:
    """wrk with each connection waiting ``delay_ms`` between requests (0: flat out)."""
    if not delay_ms:
        return run_wrk(scenario, wrk_args.duration, wrk_args)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA_SCRIPT.read_text() + f"\ndelay = function() return {delay_ms} end\n")
    header_flags = [flag for k, v in scenario.headers.items() for flag in ("-H", f"{k}: {v}")]
    cmd = [
        "wrk",
        f"-t{wrk_args.threads}",
        f"-c{wrk_args.connections}",
        f"-d{wrk_args.duration}s",
        "--latency",
        "-s",
        script.name,
        *header_flags,
        f"http://{HOST}:{scenario.port}{scenario.path}",
    ]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, check=True, timeout=wrk_args.duration + 60
        )
    finally:
        os.unlink(script.name)
    report = next(line for line in reversed(done.stdout.splitlines()) if line.startswith("{"))
    stats: dict[str, Any] = json.loads(report)
    return stats


def pacing_ms(capacity_rps: float, share: float, connections: int, p50_ms: float) -> int:
    """The wait per connection that offers ``share`` of the feed's measured capacity."""
    if share >= 1:
        return 0
    return max(1, round(connections / (share * capacity_rps) * 1000 - p50_ms))


async def busy_uploads(
    phone: TimedPhone,
    photos: dict[str, bytes],
    scenario: Scenario,
    args: argparse.Namespace,
    delay_ms: int,
) -> dict[str, Any]:
    """Upload while wrk reads the feed and the processors work through the queue; the uploads
    stop when wrk does."""
    wrk_args = feed_wrk_args(args)
    pace = f"each connection waiting {delay_ms} ms" if delay_ms else "flat out"
    print(f"~ uploads busy: wrk on the feed for {wrk_args.duration} s, {pace}", flush=True)
    wrk = asyncio.create_task(asyncio.to_thread(paced_wrk, scenario, wrk_args, delay_ms))
    await asyncio.sleep(1)  # wrk's connections up
    for name, data in upload_turns(photos, args.uploads):
        if wrk.done():
            break
        await asyncio.to_thread(phone.upload, name, data)
    return feed_figures(await wrk)


async def queued_photos(database_url: str) -> dict[str, int]:
    conn = await asyncpg.connect(database_url)
    try:
        return await queue_counts(conn)
    finally:
        await conn.close()


def old_door(photos: dict[str, bytes]) -> dict[str, float]:
    """The full decode the door did before it answered, in ms (the old answer's floor)."""
    floor = {}
    for name, data in photos.items():
        runs = []
        for _ in range(OLD_DOOR_RUNS):
            started = time.perf_counter()
            inspect_photo(data, MEDIA_TYPES[name])
            runs.append((time.perf_counter() - started) * 1000)
        floor[name] = round(statistics.median(runs), 1)
    return floor


def measure_uploads(
    port: int, photos: dict[str, bytes], args: argparse.Namespace
) -> dict[str, Any]:
    """Idle; then busy at ``--load-share`` of the feed's capacity (a bounded load, as a fleet
    of phones is); then with wrk flat out (the worker saturated)."""
    token = login(port, STAFF)
    scenario = staff_first_page(port, token)
    wrk_args = feed_wrk_args(args)
    check(scenario)
    run_wrk(scenario, wrk_args.warmup, wrk_args)
    capacity = feed_figures(run_wrk(scenario, CAPACITY_S, wrk_args))
    jobs = staff_jobs(port, token)
    phone = TimedPhone(port, token, jobs)
    idle_uploads(phone, photos, args)
    windows: dict[str, Any] = {"idle": phone.figures()}
    feeds: dict[str, Any] = {"capacity": capacity}
    delays = {
        "busy": pacing_ms(
            capacity["req_per_s"], args.load_share, args.connections, capacity["p50_ms"]
        ),
        "saturated": 0,
    }
    waiting_at: dict[str, int] = {}
    for window, delay_ms in delays.items():
        waiting_at[window] = waiting(asyncio.run(queued_photos(args.database_url)))
        phone = TimedPhone(port, token, jobs, sent=phone.sent)
        feeds[window] = asyncio.run(busy_uploads(phone, photos, scenario, args, delay_ms))
        feeds[window]["delay_ms"] = delay_ms
        windows[window] = phone.figures()
    worst = max(windows["busy"][name]["p99_ms"] for name in photos if name in windows["busy"])
    return {
        **windows,
        "feed": feeds,
        "load_share": args.load_share,
        "photos_waiting_when_window_began": waiting_at,
        "old_door_decode_ms": old_door(photos),
        "busy_p99_ms_worst": worst,
        "p99_target_ms": UPLOAD_P99_TARGET_MS,
        "within_target": worst < UPLOAD_P99_TARGET_MS,
    }


def run_uploads(photos: dict[str, bytes], args: argparse.Namespace, store: str) -> dict[str, Any]:
    """Part three on one store: fresh database, the server and its processors (and for s3
    moto's server), always stopped."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="photo-bench-") as data_dir, ExitStack() as stack:
        env = {
            **server_env(args.database_url, port, HTTP_WORKERS),
            "DATA_DIR": data_dir,
            "PHOTO_STORE": "local",
            "PHOTO_PROCESSING_WORKERS": str(args.processors),
        }
        if store == "s3":
            env |= stack.enter_context(moto_bucket(args.out / "photo-upload-moto.log"))
        log = args.out / f"photo-upload-server-{store}.log"
        with serving_fresh(args.database_url, env, port, log):
            return {"store": store, **measure_uploads(port, photos, args)}


def print_uploads(uploads: dict[str, Any], args: argparse.Namespace) -> None:
    store = uploads["store"]
    print(f"PHOTO_STORE={store}")
    print(f"{'window':<9} {'request':<24} {'n':>4} {'p50 ms':>8} {'p99 ms':>8}")
    answer = "PUT 12 MP" if store == "local" else "complete 12 MP"
    for window in WINDOWS:
        for name, row in uploads[window].items():
            label = LABELS.get(name, f"{answer} {name}")
            print(
                f"{window:<9} {label:<24} {row['n']:>4} {row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f}"
            )
    floor = ", ".join(f"{name} {ms:.0f} ms" for name, ms in uploads["old_door_decode_ms"].items())
    print(f"the old door's full decode (before it could answer): {floor}")
    feeds = uploads["feed"]
    print(
        f"the feed (wrk -c{args.connections}): capacity {feeds['capacity']['req_per_s']:.0f}"
        f" req/s; busy {feeds['busy']['req_per_s']:.0f} req/s (p99"
        f" {feeds['busy']['p99_ms']:.1f} ms, {feeds['busy']['delay_ms']} ms between requests);"
        f" saturated {feeds['saturated']['req_per_s']:.0f} req/s (p99"
        f" {feeds['saturated']['p99_ms']:.1f} ms)"
    )
    waiting_at = uploads["photos_waiting_when_window_began"]
    print(f"photos waiting for the processors as each window began: {waiting_at}")
    verdict = "within" if uploads["within_target"] else "MISSES"
    print(
        f"busy upload p99 (worst format): {uploads['busy_p99_ms_worst']:.1f} ms"
        f" ({verdict} the target of {UPLOAD_P99_TARGET_MS:.0f} ms)"
    )


def plot_uploads(ax: Axes, uploads: dict[str, Any]) -> None:
    labels, p50s, p99s = [], [], []
    for window in WINDOWS:
        for name, row in uploads[window].items():
            labels.append(f"{window}\n{SHORT_LABELS.get(name, name)}")
            p50s.append(row["p50_ms"])
            p99s.append(row["p99_ms"])
    xs = range(len(labels))
    ax.bar([x - 0.2 for x in xs], p50s, width=0.4, label="p50")
    ax.bar([x + 0.2 for x in xs], p99s, width=0.4, label="p99")
    ax.axhline(UPLOAD_P99_TARGET_MS, color="red", linestyle="--", label="p99 target")
    ax.set_xticks(list(xs), labels)
    ax.set_ylabel("ms to the answer")
    ax.set_title(f"upload answer time (PHOTO_STORE={uploads['store']})")
    ax.legend()


def plot_throughput(ax: Axes, formats: dict[str, dict[str, Any]]) -> None:
    bars = ax.bar(list(formats), [row["photos_per_s_per_core"] for row in formats.values()])
    ax.bar_label(bars, fmt="%.2f")
    ax.set_ylabel("photos / s / core")
    ax.set_title("processing throughput")


def plot_queue(ax: Axes, samples: list[dict[str, Any]]) -> None:
    times = [s["t_s"] for s in samples]
    ax.plot(times, [waiting(s) for s in samples], label="waiting")
    ax.plot(times, [s.get("ready", 0) for s in samples], label="ready")
    ax.set_xlabel("s into the busy window")
    ax.set_ylabel("photos")
    ax.set_title("the queue during the busy window")
    ax.legend()


def plot(doc: dict[str, Any]) -> Figure:
    """One panel per measured thing: throughput, feed latency, the queue."""
    panels: list[Any] = []
    if "formats" in doc:
        panels.append(lambda ax: plot_throughput(ax, doc["formats"]))
    if "feed" in doc:
        panels.append(lambda ax: plot_feed(ax, doc["feed"]))
        panels.append(lambda ax: plot_queue(ax, doc["feed"]["samples"]))
    for store in doc.get("uploads", {}).values():
        panels.append(lambda ax, store=store: plot_uploads(ax, store))
    fig = Figure(figsize=(5 * len(panels), 4.5))
    for draw, ax in zip(panels, fig.subplots(1, len(panels), squeeze=False)[0], strict=True):
        draw(ax)
    return titled(fig, f"photo benchmark {doc['timestamp']} ({doc['machine']['cpus']} cores)")


def settings(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "part": args.part,
        "workers": args.workers,
        "count": args.count,
        "duration_s": args.duration,
        "size": [WIDTH, HEIGHT],
        "variant_formats": list(variant_formats()),
        "http_workers": HTTP_WORKERS,
        "processors": args.processors,
        "feed_duration_s": args.feed_duration,
        "warmup_s": args.warmup,
        "connections": args.connections,
        "threads": args.threads,
        "backlog": args.backlog,
        "max_uploads": args.max_uploads,
        "uploads": args.uploads,
        "load_share": args.load_share,
        "stores": args.stores,
    }


def main() -> None:
    """Entry point."""
    args = parse_args()
    prepare_out(args)
    if {"feed", "uploads"} & set(PARTS[args.part]):
        require_wrk("bench-photos")
    frame = camera_frame()
    photos = {"jpeg": camera_photo(frame, "JPEG"), "heic": camera_photo(frame, "HEIF")}
    doc = results_doc(settings(args))
    if "throughput" in PARTS[args.part]:
        doc["formats"] = run_throughput(photos, args)
        print_throughput(doc["formats"], args.workers)
    if "feed" in PARTS[args.part]:
        with failures_end_run():
            doc["feed"] = run_feed(photos, args)
        print_feed(doc["feed"], args)
    if "uploads" in PARTS[args.part]:
        doc["uploads"] = {}
        for store in args.stores.split(","):
            with failures_end_run():
                doc["uploads"][store] = run_uploads(photos, args, store)
            print_uploads(doc["uploads"][store], args)
    keep_results(args.out, "photos", doc, lambda: plot(doc))


if __name__ == "__main__":
    main()
