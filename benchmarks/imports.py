"""Bulk import: 100,000 jobs through ``POST /api/integration/v1/import`` in one request,
against plain multi-row SQL INSERTs of the same rows, and the server's memory meanwhile.

A fresh PostgreSQL database, migrated, and ``python -m server run`` with one HTTP worker (no
photo processors, no push senders). A key made by ``python -m server create-api-key``; one
small import lays the ground (a branch, ``--customers`` customers, ten staff), then the
``--jobs`` job lines go in one chunked request (each a three-item checklist, every other one
assigned, priorities mixed), its NDJSON answer read as it streams. The same file is sent
again: every line ``unchanged``, the cost of an idempotent re-run.

The baseline writes the same job and checklist rows (other ids) straight into the same
tables with multi-row ``INSERT ... VALUES`` of 250 rows, one transaction per 500 jobs, as the
import batches them: no COPY, no change log, no checks. The ratio is the import's rows per
second over the baseline's.

Memory is the resident set (VmRSS) of the server's processes together, sampled every 50 ms
from /proc: before the import, its peak while the body streams through, and after.

Run from the repository root:
    .venv/bin/python -m benchmarks.imports --jobs 100000
"""

import argparse
import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from matplotlib.figure import Figure

from benchmarks.harness import (
    HOST,
    REPO_ROOT,
    add_run_options,
    descendants,
    failures_end_run,
    free_port,
    keep_results,
    prepare_out,
    print_head,
    recreate_database,
    results_doc,
    server_env,
    serving,
    titled,
    two_panels,
)
from server.cluster.processes import run_command

IMPORT_PATH = "/api/integration/v1/import"
NDJSON = "application/x-ndjson"
STAFF = 10
LABELS = ("Dust", "Mop", "Bins")
PRIORITIES = ("normal", "normal", "high", "urgent")
BASELINE_BATCH = 500  # jobs per transaction, as server/integration/imports.py JOB_BATCH
ROWS_PER_INSERT = 250  # rows per INSERT statement (the quickest of 50 to 500 here)
UPLOAD_CHUNK_LINES = 1000
RSS_EVERY_S = 0.05
FIRST_DAY = datetime(2027, 1, 4, 1, 0, tzinfo=UTC)


def parse_args() -> argparse.Namespace:
    """Read the run settings; defaults match `make bench-import`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="job lines in the import")
    parser.add_argument("--customers", type=int, default=200, help="customers the jobs share")
    parser.add_argument("--timeout", type=float, default=600.0, help="s for one import")
    add_run_options(parser, "tinedy_import_bench")
    args = parser.parse_args()
    if not 1 <= args.jobs <= 1_000_000 or not 1 <= args.customers <= 10_000:
        parser.error("--jobs must lie between 1 and 1000000, --customers 1 and 10000")
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    return args


# The records


def ground_lines(customers: int) -> list[dict[str, Any]]:
    """A branch, its customers and its staff: what the jobs name."""
    lines: list[dict[str, Any]] = [{"kind": "branch", "externalId": "BR-1", "name": "Sathorn"}]
    lines += [
        {
            "kind": "customer",
            "externalId": f"CU-{n}",
            "name": f"Customer {n}",
            "address": f"{n} Sathorn Rd, Bangkok",
            "location": {"lat": 13.72 + n / 100_000, "lng": 100.53},
            "branchExternalId": "BR-1",
        }
        for n in range(customers)
    ]
    lines += [
        {
            "kind": "staff",
            "externalId": f"ST-{n}",
            "email": f"st{n}@bench.test",
            "name": f"Staff {n}",
            "role": "staff",
            "branchExternalId": "BR-1",
        }
        for n in range(STAFF)
    ]
    return lines


def job_line(n: int, customers: int) -> dict[str, Any]:
    when = FIRST_DAY + timedelta(minutes=30 * n)
    line: dict[str, Any] = {
        "kind": "job",
        "externalId": f"JOB-{n}",
        "customerExternalId": f"CU-{n % customers}",
        "serviceType": "Deep clean",
        "scheduledDate": when.isoformat(),
        "durationMinutes": 120,
        "priority": PRIORITIES[n % len(PRIORITIES)],
        "notes": "ระวังสุนัข · mind the dog",
        "checklist": list(LABELS),
    }
    if n % 2 == 0:
        line["assigneeExternalIds"] = [f"ST-{n % STAFF}"]
    return line


def ndjson(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


async def job_body(jobs: int, customers: int) -> AsyncIterator[bytes]:
    """The job lines, made as they are sent (the file is never whole in this process)."""
    for start in range(0, jobs, UPLOAD_CHUNK_LINES):
        end = min(jobs, start + UPLOAD_CHUNK_LINES)
        yield ndjson([job_line(n, customers) for n in range(start, end)])


# The server's memory


def rss_kib(pid: int) -> int:
    with suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def server_rss_kib(pid: int) -> int:
    """The resident set of the server and the processes under it, KiB."""
    return sum(rss_kib(p) for p in [pid, *descendants(pid)])


class RssSampler:
    """Samples the server's RSS every RSS_EVERY_S in a thread, while its block runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = time.monotonic()

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(RSS_EVERY_S):
            self.samples.append((time.monotonic() - self._started, server_rss_kib(self.pid)))

    @property
    def peak_kib(self) -> int:
        return max((kib for _, kib in self.samples), default=0)


# The import


def make_key(env: dict[str, str]) -> str:
    made = subprocess.run(
        [sys.executable, "-m", "server", "create-api-key", "--name", "bench", "--scope", "all"],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return made.stdout.strip()


async def post_import(
    base: str, key: str, body: bytes | AsyncIterator[bytes], limit_s: float
) -> dict[str, Any]:
    """One import: its outcome counts, the seconds to its first answer line and to its
    end, and the line numbers in the order they came (they must be 1, 2, 3...)."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": NDJSON}
    statuses: Counter[str] = Counter()
    expected_line, out_of_order, first = 1, 0, None
    started = time.perf_counter()
    async with (
        httpx.AsyncClient(base_url=base, timeout=limit_s) as client,
        client.stream("POST", IMPORT_PATH, content=body, headers=headers) as answer,
    ):
        if answer.status_code != 200:
            raise RuntimeError(f"import answered {answer.status_code}: {await answer.aread()!r}")
        async for raw in answer.aiter_lines():
            first = first or time.perf_counter() - started
            line = orjson.loads(raw)
            statuses[line["status"]] += 1
            out_of_order += line["line"] != expected_line
            expected_line = line["line"] + 1
    seconds = time.perf_counter() - started
    return {
        "statuses": dict(statuses),
        "first_answer_s": round(first or 0.0, 3),
        "seconds": round(seconds, 2),
        "out_of_order": out_of_order,
    }


async def import_run(args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    env = server_env(args.database_url, port, workers=1)
    env |= {"PUSH_SENDERS": "0", "PHOTO_PROCESSING_WORKERS": "0", "DEMO": "false"}
    await recreate_database(args.database_url)
    run_command("migrate", env)
    key = make_key(env)
    base = f"http://{HOST}:{port}"
    log = args.out / "imports-server.log"
    with serving(env, port, log) as server:
        ground = await post_import(base, key, ndjson(ground_lines(args.customers)), args.timeout)
        if ground["statuses"] != {"created": args.customers + STAFF + 1}:
            raise RuntimeError(f"the ground did not import: {ground}")
        passes = {}
        for name in ("created", "unchanged"):
            before = server_rss_kib(server.pid)
            print(f"~ importing {args.jobs} jobs ({name})", flush=True)
            with RssSampler(server.pid) as rss:
                run = await post_import(
                    base, key, job_body(args.jobs, args.customers), args.timeout
                )
            if run["statuses"] != {name: args.jobs} or run["out_of_order"]:
                raise RuntimeError(f"the {name} pass answered {run}")
            rate = {"rows_per_s": round(args.jobs / run["seconds"], 1)}
            passes[name] = run | rate | memory(before, rss, server_rss_kib(server.pid))
    return passes


def memory(before: int, rss: RssSampler, after: int) -> dict[str, Any]:
    return {
        "rss_before_mib": round(before / 1024, 1),
        "rss_peak_mib": round(rss.peak_kib / 1024, 1),
        "rss_after_mib": round(after / 1024, 1),
        "rss_samples": [(round(t, 2), round(kib / 1024, 1)) for t, kib in rss.samples],
    }


# The baseline


def baseline_rows(
    jobs: int, customers: list[dict[str, Any]], staff: list[str], branch: str
) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """The import's rows as plain tuples, BASELINE_BATCH jobs at a time (job rows, items)."""
    now = datetime.now(UTC)
    for start in range(0, jobs, BASELINE_BATCH):
        job_rows, item_rows = [], []
        for n in range(start, min(jobs, start + BASELINE_BATCH)):
            line = job_line(n, len(customers))
            customer = customers[n % len(customers)]
            job_id = uuid.uuid4()
            assignee = staff[n % STAFF] if n % 2 == 0 else None
            job_rows.append(
                (
                    job_id, f"BASE-{n}", branch, customer["id"], "Deep clean",
                    "assigned" if assignee else "pending", line["priority"],
                    datetime.fromisoformat(line["scheduledDate"]), 120, assignee,
                    customer["address"], customer["lat"], customer["lng"], line["notes"],
                    1, now, now,
                )
            )  # fmt: skip
            item_rows += [(uuid.uuid4(), job_id, p, label) for p, label in enumerate(LABELS)]
        yield job_rows, item_rows


JOB_COLUMNS = (
    "id, external_id, branch, customer, service_type, status, priority, scheduled_at, "
    "duration_minutes, assignee, address, lat, lng, notes, version, created_at, updated_at"
)
ITEM_COLUMNS = "id, job, position, label"


def values_clause(rows: int, width: int) -> str:
    return ", ".join(
        "(" + ", ".join(f"${r * width + c}" for c in range(1, width + 1)) + ")" for r in range(rows)
    )


async def baseline_run(args: argparse.Namespace) -> dict[str, Any]:
    """The same rows by multi-row INSERTs, one transaction per batch."""
    conn = await asyncpg.connect(args.database_url)
    try:
        customers = [
            dict(row)
            for row in await conn.fetch(
                "SELECT id, address, lat, lng FROM customer ORDER BY "
                "CAST(substr(external_id, 4) AS integer)"
            )
        ]
        staff = [
            row["id"]
            for row in await conn.fetch(
                "SELECT id FROM app_user WHERE external_id LIKE 'ST-%' ORDER BY "
                "CAST(substr(external_id, 4) AS integer)"
            )
        ]
        branch = await conn.fetchval("SELECT id FROM branch WHERE external_id = 'BR-1'")
        started = time.perf_counter()
        for job_rows, item_rows in baseline_rows(args.jobs, customers, staff, branch):
            async with conn.transaction():
                await insert(conn, "job", JOB_COLUMNS, job_rows)
                await insert(conn, "checklist_item", ITEM_COLUMNS, item_rows)
        seconds = time.perf_counter() - started
    finally:
        await conn.close()
    return {"seconds": round(seconds, 2), "rows_per_s": round(args.jobs / seconds, 1)}


async def insert(
    conn: asyncpg.Connection, table: str, columns: str, rows: list[tuple[Any, ...]]
) -> None:
    """Multi-row INSERTs of ROWS_PER_INSERT rows."""
    width = len(rows[0])
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[start : start + ROWS_PER_INSERT]
        await conn.execute(
            f"INSERT INTO {table} ({columns}) VALUES {values_clause(len(chunk), width)}",
            *(value for row in chunk for value in row),
        )


# Results


def summary(doc: dict[str, Any]) -> dict[str, Any]:
    created, unchanged = doc["import"]["created"], doc["import"]["unchanged"]
    baseline = doc["baseline"]["rows_per_s"]
    return {
        "import_rows_per_s": created["rows_per_s"],
        "reimport_rows_per_s": unchanged["rows_per_s"],
        "baseline_rows_per_s": baseline,
        "import_vs_baseline": round(created["rows_per_s"] / baseline, 3),
        "rss_before_mib": created["rss_before_mib"],
        "rss_peak_mib": created["rss_peak_mib"],
        "rss_after_mib": created["rss_after_mib"],
    }


def print_result(doc: dict[str, Any]) -> None:
    jobs = doc["settings"]["jobs"]
    print()
    print_head(f"{'run':<28}{'s':>9}{'rows/s':>10}{'first answer s':>16}")
    for name, run in doc["import"].items():
        label = f"import ({name})"
        print(f"{label:<28}{run['seconds']:>9}{run['rows_per_s']:>10}{run['first_answer_s']:>16}")
    base = doc["baseline"]
    print(f"{'multi-row INSERTs':<28}{base['seconds']:>9}{base['rows_per_s']:>10}{'-':>16}")
    s = doc["summary"]
    print()
    print(f"{jobs} jobs: import/baseline {s['import_vs_baseline']:.3f}")
    print(
        f"server RSS MiB: before {s['rss_before_mib']}, peak {s['rss_peak_mib']}, "
        f"after {s['rss_after_mib']}"
    )


def plot(doc: dict[str, Any]) -> Figure:
    """Rows per second of each run; the server's RSS over the first import."""
    fig, left, right = two_panels(11)
    names = ["import\n(created)", "import\n(unchanged)", "multi-row\nINSERTs"]
    rates = [
        doc["import"]["created"]["rows_per_s"],
        doc["import"]["unchanged"]["rows_per_s"],
        doc["baseline"]["rows_per_s"],
    ]
    left.bar(names, rates, color=["tab:blue", "tab:cyan", "tab:gray"])
    left.set_ylabel("jobs per second")
    left.set_title(f"import/baseline {doc['summary']['import_vs_baseline']:.2f}")
    for name in ("created", "unchanged"):
        samples = doc["import"][name]["rss_samples"]
        right.plot([t for t, _ in samples], [mib for _, mib in samples], label=name)
    right.set_xlabel("s since the request")
    right.set_ylabel("server RSS, MiB")
    right.set_ylim(bottom=0)
    right.set_title("memory while the body streams")
    right.legend()
    return titled(fig, f"import benchmark {doc['timestamp']}: {doc['settings']['jobs']} jobs")


def main() -> None:
    """Entry point."""
    args = parse_args()
    prepare_out(args)
    doc = results_doc(
        {"jobs": args.jobs, "customers": args.customers, "staff": STAFF, "workers": 1}
    )
    with failures_end_run(httpx.HTTPError, asyncpg.PostgresError):
        doc["import"] = asyncio.run(import_run(args))
        doc["baseline"] = asyncio.run(baseline_run(args))
    doc["summary"] = summary(doc)
    print_result(doc)
    keep_results(args.out, "imports", doc, lambda: plot(doc))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
