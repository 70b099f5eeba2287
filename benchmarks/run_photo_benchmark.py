"""Photo processing throughput: 12 MP JPEG and HEIC photos per second per core.

Each photo is a camera-sized (4032×3024) frame of noise over a gradient, so it compresses
about as badly as a real one, with EXIF orientation 6, capture time and GPS. A
ProcessPoolExecutor of N workers runs ``process_photo`` (upright, thumb and display variants
in WebP and, where built, AVIF; evidence) on it, as the photo queue will, with 2×N photos in
flight until the count or the time bound is reached. Photos/s per core is the pool's
throughput divided by N; the per-photo time is measured inside the workers.

Run from the repository root:
    .venv/bin/python benchmarks/run_photo_benchmark.py --workers 2 --count 40
"""

import argparse
import io
import os
import statistics
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import pillow_heif
from PIL import ExifTags, Image
from run_feed_benchmark import machine, save_json

from server.services.photo_images import process_photo, variant_formats

WIDTH, HEIGHT = 4032, 3024
# About what phones write: a 12 MP JPEG of 4–7 MB, a HEIC of half that or less.
SAVE_OPTIONS: dict[str, dict[str, Any]] = {"JPEG": {"quality": 90}, "HEIF": {"quality": 60}}


def parse_args() -> argparse.Namespace:
    """Read the run settings; by default one worker per core."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="pool processes")
    parser.add_argument("--count", type=int, default=40, help="photos per format, at most")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per format, at most")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    if args.workers < 1 or args.count < 1 or args.duration <= 0:
        parser.error("--workers, --count and --duration must be positive")
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


def print_table(results: dict[str, dict[str, Any]], workers: int) -> None:
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


def main() -> None:
    """Entry point."""
    args = parse_args()
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    frame = camera_frame()
    photos = {"jpeg": camera_photo(frame, "JPEG"), "heic": camera_photo(frame, "HEIF")}
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = {name: run_format(pool, data, args) for name, data in photos.items()}
    print_table(results, args.workers)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    doc = {
        "timestamp": stamp,
        "settings": {
            "workers": args.workers,
            "count": args.count,
            "duration_s": args.duration,
            "size": [WIDTH, HEIGHT],
            "variant_formats": list(variant_formats()),
        },
        "machine": machine(),
        "formats": results,
    }
    save_json(args.out, "photos", stamp, doc)
    print(f"results: {args.out / 'photos-latest.json'}")


if __name__ == "__main__":
    main()
