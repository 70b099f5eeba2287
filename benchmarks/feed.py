"""Load benchmark of the mobile jobs feed, measured against a same-run baseline.

The machine is shared and noisy, so absolute req/s mean little from one run
to the next. Every figure is therefore also given as a ratio to a baseline
Sanic app that serves the same precomputed bytes, measured in the same run
with the same wrk settings.

The feed caches each encoded page under its feed version, so most requests
are cache hits. The cache-miss path is measured while a dispatcher edits the
staff member's jobs at a steady rate: every edit raises the feed version, and
the next request rebuilds the page. A control runs the same edits on another
staff member's jobs, so the writes cost the same but the page stays cached.

Last, the first page and its 304 are answered by one worker under cProfile
(benchmarks/hot_path.py): where its time went, by place and by function, is printed and kept
in the JSON, so a drop in a ratio can be traced to what grew.

Run from the repository root:
    .venv/bin/python -m benchmarks.feed --duration 10
"""

import argparse
import http.client
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import brotli
from matplotlib.figure import Figure

from benchmarks.harness import (
    FEED_PATH,
    HOST,
    Response,
    Scenario,
    add_run_options,
    baseline_command,
    check,
    failures_end_run,
    free_port,
    keep_results,
    login,
    prepare_out,
    print_head,
    request,
    require_wrk,
    results_doc,
    run_wrk,
    running,
    server_env,
    serving_fresh,
    staff_first_page,
    titled,
    two_panels,
    wait_ready,
)
from benchmarks.hot_path import print_profiles, profile_scenarios

FILTERED_PATH = FEED_PATH + "?status=assigned&status=pending&limit=50"
EDIT_PATH = "/api/dispatch/jobs/{}"
PRIORITIES = ("normal", "high")  # not "urgent": that one may page people
EDIT_RATE_KEPT = 0.9  # below this share of --edit-rate, two edit scenarios are not alike
EDIT_CONNECTIONS = 8  # an edit waits behind wrk's requests: one connection cannot keep the rate


@dataclass
class Edits:
    """What the dispatcher's background loop did; counted from ``mark()`` on."""

    ok: int = 0
    failed: int = 0
    first_failure: str | None = None
    ok_at_mark: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def mark(self) -> None:
        """Start counting here (after the warm-up)."""
        self.ok_at_mark = self.ok

    @property
    def since_mark(self) -> int:
        return self.ok - self.ok_at_mark


def parse_args() -> argparse.Namespace:
    """Read the run settings; defaults match `make bench`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per scenario")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="Sanic workers of both servers")
    parser.add_argument(
        "--edit-rate", type=float, default=20.0, help="dispatcher edits per second while writing"
    )
    parser.add_argument(
        "--profile-seconds",
        type=int,
        default=5,
        help="seconds of the first page and its 304 profiled in one worker (0: none)",
    )
    add_run_options(parser, "tinedy_bench")
    return parser.parse_args()


def edit_loop(
    port: int, token: str, jobs: tuple[str, ...], rate: float, edits: Edits, done: threading.Event
) -> None:
    """Re-prioritise ``jobs`` in turn, ``rate`` times a second on one kept-alive connection,
    on a fixed schedule, until ``done``. An edit answered late is followed at once by the
    next one due, so the rate holds as long as the edits keep up on average."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    next_at, n = time.monotonic(), 0
    try:
        while not done.wait(max(0.0, next_at - time.monotonic())):
            body = json.dumps({"priority": PRIORITIES[(n // len(jobs)) % 2]}).encode()
            conn.request("PATCH", EDIT_PATH.format(jobs[n % len(jobs)]), body, headers)
            resp = conn.getresponse()
            answer = resp.read()
            with edits.lock:
                if resp.status == 200:
                    edits.ok += 1
                else:
                    edits.failed += 1
                    edits.first_failure = edits.first_failure or f"{resp.status} {answer[:200]!r}"
            n += 1
            next_at += 1 / rate
    finally:
        conn.close()


@contextmanager
def dispatching(
    port: int, token: str, jobs: tuple[str, ...], rate: float
) -> Iterator[Edits | None]:
    """The dispatcher's edits for the block, from EDIT_CONNECTIONS threads that each edit
    their own share of ``jobs`` (so no two edit one job at once); none without ``jobs``."""
    if not jobs:
        yield None
        return
    edits, done = Edits(), threading.Event()
    threads = [
        threading.Thread(
            target=edit_loop,
            args=(port, token, jobs[n::EDIT_CONNECTIONS], rate / EDIT_CONNECTIONS, edits, done),
        )
        for n in range(min(EDIT_CONNECTIONS, len(jobs)))
    ]
    for thread in threads:
        thread.start()
    try:
        yield edits
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=30)
    if edits.failed:
        raise RuntimeError(f"{edits.failed} dispatcher edits failed: {edits.first_failure}")


def measure(scenario: Scenario, args: argparse.Namespace, dispatcher: str) -> dict[str, Any]:
    """Check, warm up, then measure one scenario (with the dispatcher's edits, if it has any)."""
    first = check(scenario)
    print(f"~ {scenario.name}: warm-up {args.warmup} s, measure {args.duration} s", flush=True)
    with dispatching(scenario.port, dispatcher, scenario.edited_jobs, args.edit_rate) as edits:
        run_wrk(scenario, args.warmup, args)
        if edits is not None:
            edits.mark()
        stats = run_wrk(scenario, args.duration, args)
        edited = edits.since_mark if edits is not None else 0
    requests = stats["requests"]
    if not requests:
        raise RuntimeError(f"{scenario.name}: wrk completed no request: {stats['errors']}")
    return {
        "name": scenario.name,
        "description": scenario.description,
        "path": scenario.path,
        "expect_status": scenario.expect_status,
        "check_body_bytes": len(first.body),
        "wrk": stats,
        "req_per_s": requests / (stats["duration_us"] / 1e6),
        "p50_ms": stats["latency_us"]["p50"] / 1000,
        "p99_ms": stats["latency_us"]["p99"] / 1000,
        "bytes_per_response": stats["bytes"] / requests,
        "errors": sum(stats["errors"].values()),
        "edits": edited,
        "edits_per_s": edited / (stats["duration_us"] / 1e6),
        "edits_per_s_asked": args.edit_rate if scenario.edited_jobs else 0.0,
        # Each edit raises the feed version once, and a version's page is built once per
        # worker (concurrent requests wait on that one build): at most this share rebuilt.
        "rebuilt_at_most": edited * args.workers / requests if scenario.edited_jobs else 0.0,
    }


@dataclass(frozen=True)
class Feeds:
    """Whose feeds are measured and edited: tokens, and the job ids of two first pages."""

    staff: str
    dispatcher: str
    etag: str
    staff_jobs: tuple[str, ...]
    other_jobs: tuple[str, ...]


def scenarios(base_port: int, port: int, feeds: Feeds) -> list[Scenario]:
    """The measured scenarios; the baseline comes first as the ratio reference, the edits
    come last (they change the ETag the 304 scenario sends)."""
    br = {"Accept-Encoding": "br"}
    first_page = staff_first_page(port, feeds.staff)
    staff_headers = first_page.headers
    return [
        Scenario("baseline", "precomputed br bytes, bare Sanic", base_port, "/", br, 200),
        first_page,
        Scenario(
            "staff_304",
            "staff first page, If-None-Match",
            port,
            FEED_PATH,
            {**staff_headers, "If-None-Match": feeds.etag},
            304,
        ),
        Scenario(
            "dispatcher_filtered",
            "dispatcher, status=assigned&pending, limit=50, br",
            port,
            FILTERED_PATH,
            {**br, "Authorization": f"Bearer {feeds.dispatcher}"},
            200,
        ),
        Scenario(
            "staff_edits_elsewhere",
            "staff first page, br, while the dispatcher edits another staff member's jobs",
            port,
            FEED_PATH,
            staff_headers,
            200,
            feeds.other_jobs,
        ),
        Scenario(
            "staff_cache_miss",
            "staff first page, br, while the dispatcher edits this staff member's jobs",
            port,
            FEED_PATH,
            staff_headers,
            200,
            feeds.staff_jobs,
        ),
    ]


def fetch_first_page(port: int, token: str) -> Response:
    """A staff first page: its bytes feed the baseline, its ETag the 304 scenario."""
    headers = {"Accept-Encoding": "br", "Authorization": f"Bearer {token}"}
    page = request(port, "GET", FEED_PATH, headers)
    if page.status != 200 or "etag" not in page.headers:
        raise RuntimeError(f"first page: {page.status} {page.headers}")
    return page


def job_ids(page: Response) -> tuple[str, ...]:
    """The ids of the jobs on a first page (sent in br)."""
    jobs = json.loads(brotli.decompress(page.body))["jobs"]
    if not jobs:
        raise RuntimeError("a first page to edit has no jobs")
    return tuple(job["id"] for job in jobs)


def run_all(args: argparse.Namespace, workdir: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Set up the database, start both servers, measure, profile the hot path, and always
    stop them."""
    port = free_port()
    env = server_env(args.database_url, port, args.workers)
    with serving_fresh(args.database_url, env, port, args.out / "server.log"):
        staff = login(port, "staff1@demo.local")
        dispatcher = login(port, "dispatcher@demo.local")
        page = fetch_first_page(port, staff)
        # staff2 is on staff1's team: the same dispatcher edits both people's jobs.
        other = fetch_first_page(port, login(port, "staff2@demo.local"))
        feeds = Feeds(staff, dispatcher, page.headers["etag"], job_ids(page), job_ids(other))
        body_file = workdir / "staff-first-page.br"
        body_file.write_bytes(page.body)
        base_port = free_port()
        base_cmd = baseline_command(body_file, base_port, args.workers)
        base_log = args.out / "baseline.log"
        with running(base_cmd, os.environ, base_log) as baseline:
            wait_ready(baseline, base_port, "/", base_log)
            ceiling, *others = scenarios(base_port, port, feeds)
            results = [measure_paired(ceiling, s, args, dispatcher) for s in others]
        profiles = {}
        if args.profile_seconds:
            hot = [s for s in others if s.name in ("staff_first_page", "staff_304")]
            print(f"~ profiling {', '.join(s.name for s in hot)} in one worker", flush=True)
            profiles = profile_scenarios(hot, env, free_port(), workdir, args.profile_seconds, args)
        return results, profiles


def measure_paired(
    baseline: Scenario, scenario: Scenario, args: argparse.Namespace, dispatcher: str
) -> dict[str, Any]:
    """The baseline again just before each scenario: the machine's load drifts within a run,
    and a ratio is fair only to a ceiling measured under the same load."""
    ceiling = measure(baseline, args, dispatcher)
    result = measure(scenario, args, dispatcher)
    result["baseline_req_per_s"] = ceiling["req_per_s"]
    result["ratio_to_baseline"] = result["req_per_s"] / ceiling["req_per_s"]
    return result


def print_table(results: list[dict[str, Any]]) -> None:
    """Human-readable summary on stdout."""
    head = (
        f"{'scenario':<24}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'B/resp':>9}{'base/s':>9}{'ratio':>8}{'errors':>8}{'edits/s':>9}{'rebuilt<=':>11}"
    )
    print_head(head)
    for r in results:
        print(
            f"{r['name']:<24}{r['req_per_s']:>10.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
            f"{r['bytes_per_response']:>9.0f}{r['baseline_req_per_s']:>9.0f}"
            f"{r['ratio_to_baseline']:>8.2f}{r['errors']:>8}"
            f"{r['edits_per_s']:>9.1f}{r['rebuilt_at_most']:>10.2%}"
        )
    for r in results:
        if r["edits"] and r["edits_per_s"] < EDIT_RATE_KEPT * r["edits_per_s_asked"]:
            print(
                f"{r['name']}: the edits fell behind ({r['edits_per_s']:.1f}/s): compare with care"
            )


def plot(results: list[dict[str, Any]], title: str) -> Figure:
    """Bar charts of req/s beside each one's baseline (annotated with the ratio), and p50/p99
    latency."""
    names = [r["name"] for r in results]
    xs = range(len(names))
    width = 0.4
    fig, left, right = two_panels()
    left.bar(
        [x - width / 2 for x in xs],
        [r["baseline_req_per_s"] for r in results],
        width,
        color="tab:gray",
        label="baseline just before",
    )
    bars = left.bar(
        [x + width / 2 for x in xs], [r["req_per_s"] for r in results], width, label="scenario"
    )
    left.bar_label(bars, labels=[f"x{r['ratio_to_baseline']:.2f}" for r in results])
    left.set_ylabel("requests / s")
    left.set_title("throughput (ratio to its baseline)")
    left.legend()
    right.bar([x - width / 2 for x in xs], [r["p50_ms"] for r in results], width, label="p50")
    right.bar([x + width / 2 for x in xs], [r["p99_ms"] for r in results], width, label="p99")
    right.set_ylabel("latency, ms")
    right.set_title("latency")
    right.legend()
    for ax in (left, right):
        ax.set_xticks(list(xs), names, rotation=20, ha="right")
    return titled(fig, title)


def write_results(
    results: list[dict[str, Any]], profiles: dict[str, Any], args: argparse.Namespace
) -> None:
    """Save the JSON (timestamped and latest) and the plot."""
    settings = {
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "connections": args.connections,
        "threads": args.threads,
        "workers": args.workers,
        "edit_rate_per_s": args.edit_rate,
    }
    doc = results_doc(
        settings, load_average=os.getloadavg(), scenarios=results, hot_path_profiles=profiles
    )
    title = (
        f"feed benchmark {doc['timestamp']}: wrk -t{args.threads} -c{args.connections}"
        f" -d{args.duration}s, workers={args.workers}"
    )
    keep_results(args.out, "feed", doc, lambda: plot(results, title))


def main() -> None:
    """Entry point."""
    args = parse_args()
    require_wrk("bench-feed")
    prepare_out(args)
    with failures_end_run(), tempfile.TemporaryDirectory(prefix="feed-bench-") as tmp:
        results, profiles = run_all(args, Path(tmp))
    print_table(results)
    print_profiles(profiles)
    write_results(results, profiles, args)


if __name__ == "__main__":
    main()
