"""Finding 4 (SECURITY.md): an HTTP method token, which anyone can send signed out, once made
a Prometheus series of its own: memory, files under DATA_DIR/metrics and /metrics grew with
every new token. A real server on loopback, two workers sharing their samples through files,
gets a flood of made-up methods."""

from __future__ import annotations

import random
import string
from pathlib import Path

import httpx
from prometheus_client.mmap_dict import MmapedDict

from server.cluster.processes import stop
from tests.servers import STOP_SECONDS, start_instance
from tests.world import World

FLOOD = 2000
TARGETS = ("/healthz", "/no/such/route", "/api/mobile/auth/login")


def made_up_methods(count: int) -> list[str]:
    picker = random.Random(4)
    return ["".join(picker.choices(string.ascii_uppercase, k=12)) for _ in range(count)]


async def flood(client: httpx.AsyncClient, methods: list[str]) -> None:
    for n, method in enumerate(methods):
        await client.request(method, TARGETS[n % len(TARGETS)])


def series_in_files(metrics_dir: Path) -> int:
    """Labelled samples the processes keep in their files (each file holds one key per
    series, whatever its value)."""
    series = 0
    for path in metrics_dir.glob("*.db"):
        entries = MmapedDict.read_all_values_from_file(str(path))  # type: ignore[no-untyped-call]
        series += len(list(entries))
    return series


def workers_answered(metrics_dir: Path) -> int:
    """Workers that have timed a request: each keeps its histograms in a file of its own."""
    return len({path.stem.rsplit("_", 1)[1] for path in metrics_dir.glob("histogram_*.db")})


async def warm_every_worker(base: str, metrics_dir: Path, workers: int) -> None:
    """Each worker makes a label's series at its first sight of it, in files of its own: send
    the made-up methods (and a scrape) on fresh connections, which the kernel spreads over
    the workers, until every worker has answered and five rounds in a row add no series."""
    quiet, last = 0, -1
    for _ in range(200):
        async with httpx.AsyncClient(base_url=base, timeout=5) as fresh:
            await flood(fresh, made_up_methods(len(TARGETS)))
            await fresh.get("/metrics")
        now = series_in_files(metrics_dir)
        quiet = quiet + 1 if now == last and workers_answered(metrics_dir) >= workers else 0
        if quiet == 5:
            return
        last = now
    raise AssertionError(f"the workers kept adding series while warming up ({last})")


async def test_made_up_methods_share_one_label_and_add_no_series(
    database_url: str, world: World, tmp_path: Path
) -> None:
    settings = {"WORKERS": "2", "PHOTO_PROCESSING_WORKERS": "0", "PUSH_SENDERS": "0"}
    data_dir = tmp_path / "app"
    process, base = await start_instance(database_url, data_dir, tmp_path / "app.log", settings)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            await warm_every_worker(base, data_dir / "metrics", workers=2)
            before = await client.get("/metrics")
            files_before = series_in_files(data_dir / "metrics")
            await flood(client, made_up_methods(FLOOD))
            after = await client.get("/metrics")
            files_after = series_in_files(data_dir / "metrics")
    finally:
        stop([process], timeout=STOP_SECONDS)
    assert 'method="other"' in after.text
    assert not any(m in after.text for m in made_up_methods(FLOOD))
    # Counts grow by a few digits; a series per method would add ~1 KB for each of 2,000.
    sizes = len(before.content), len(after.content)
    assert sizes[1] - sizes[0] < 512, sizes
    assert files_after - files_before < 10, (files_before, files_after)
