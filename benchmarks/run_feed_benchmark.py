"""Load benchmark of the mobile jobs feed, measured against a same-run baseline.

The machine is shared and noisy, so absolute req/s mean little from one run
to the next. Every figure is therefore also given as a ratio to a baseline
Sanic app that serves the same precomputed bytes, measured in the same run
with the same wrk settings.

Run from the repository root:
    .venv/bin/python benchmarks/run_feed_benchmark.py --duration 10
"""

import argparse
import asyncio
import http.client
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from matplotlib.figure import Figure

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
LUA_SCRIPT = BENCH_DIR / "wrk_report.lua"
HOST = "127.0.0.1"
PASSWORD = "demo1234"
FEED_PATH = "/api/mobile/jobs"
FILTERED_PATH = FEED_PATH + "?status=assigned&status=pending&limit=50"
READY_TIMEOUT_S = 60.0
SETUP_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 15.0
PROTECTED_DATABASES = {"postgres", "template0", "template1"}


@dataclass(frozen=True)
class Response:
    """A raw HTTP response; the body is kept compressed, as sent."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Scenario:
    """One wrk target: where to hit, with which headers, and what it must answer."""

    name: str
    description: str
    port: int
    path: str
    headers: dict[str, str]
    expect_status: int


def parse_args() -> argparse.Namespace:
    """Read the run settings; defaults match `make bench`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per scenario")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="Sanic workers of both servers")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/tinedy_bench")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    return parser.parse_args()


def free_port() -> int:
    """Ask the kernel for an unused loopback port."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def quote_ident(name: str) -> str:
    """Quote a PostgreSQL identifier (database names cannot be bind parameters)."""
    return '"' + name.replace('"', '""') + '"'


async def recreate_database(database_url: str) -> None:
    """Start from an empty database so seeded data is the same every run."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if not name or name in PROTECTED_DATABASES:
        raise SystemExit(f"refusing to drop database {name!r}")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {quote_ident(name)}")
    finally:
        await conn.close()


def server_env(database_url: str, port: int, workers: int) -> dict[str, str]:
    """Environment of every `python -m server` call."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEMO": "1",
        "HOST": HOST,
        "PORT": str(port),
        "WORKERS": str(workers),
    }


def run_server_command(command: str, env: Mapping[str, str]) -> None:
    """Run a one-shot server command (migrate, seed-demo) and fail loudly."""
    print(f"+ python -m server {command}", flush=True)
    subprocess.run(
        [sys.executable, "-m", "server", command],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        timeout=SETUP_TIMEOUT_S,
    )


def stop(proc: "subprocess.Popen[bytes]") -> None:
    """Stop gracefully, then kill the whole process group so no worker survives."""
    if proc.poll() is None:
        proc.terminate()
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_TIMEOUT_S)
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@contextmanager
def running(
    cmd: list[str], env: Mapping[str, str], log_path: Path
) -> Iterator["subprocess.Popen[bytes]"]:
    """Run a server in its own session for the duration of the block."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            stop(proc)


def request(
    port: int, method: str, path: str, headers: Mapping[str, str], body: bytes | None = None
) -> Response:
    """One HTTP/1.1 request without transparent decompression."""
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=dict(headers))
        resp = conn.getresponse()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def wait_ready(proc: "subprocess.Popen[bytes]", port: int, path: str, log_path: Path) -> None:
    """Poll until the server answers 200, bounded so a broken server cannot hang the run."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see {log_path}")
        try:
            if request(port, "GET", path, {}).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(
        f"{path} on port {port} not ready after {READY_TIMEOUT_S:.0f} s; see {log_path}"
    )


def login(port: int, email: str) -> str:
    """Log a demo user in and return the access token."""
    payload = {
        "email": email,
        "password": PASSWORD,
        "device": {"id": f"bench-{email}", "name": "feed benchmark", "platform": "android"},
    }
    resp = request(
        port,
        "POST",
        "/api/mobile/auth/login",
        {"Content-Type": "application/json"},
        json.dumps(payload).encode(),
    )
    if resp.status != 200:
        raise RuntimeError(f"login {email} failed: {resp.status} {resp.body[:200]!r}")
    token: str = json.loads(resp.body)["accessToken"]
    return token


def check(scenario: Scenario) -> Response:
    """Send one request first, so wrk never measures a wrong answer (401s are fast)."""
    resp = request(scenario.port, "GET", scenario.path, scenario.headers)
    if resp.status != scenario.expect_status:
        got = f"{resp.status} {resp.body[:200]!r}"
        raise RuntimeError(f"{scenario.name}: expected {scenario.expect_status}, got {got}")
    if resp.status == 200 and resp.headers.get("content-encoding") != "br":
        raise RuntimeError(f"{scenario.name}: response is not br-compressed: {resp.headers}")
    return resp


def run_wrk(scenario: Scenario, duration: int, args: argparse.Namespace) -> dict[str, Any]:
    """Run wrk once and return the JSON line printed by wrk_report.lua."""
    header_flags = [flag for k, v in scenario.headers.items() for flag in ("-H", f"{k}: {v}")]
    cmd = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{duration}s",
        "--latency",
        "-s",
        str(LUA_SCRIPT),
        *header_flags,
        f"http://{HOST}:{scenario.port}{scenario.path}",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=duration + 60)
    report = next(line for line in reversed(out.stdout.splitlines()) if line.startswith("{"))
    stats: dict[str, Any] = json.loads(report)
    return stats


def measure(scenario: Scenario, args: argparse.Namespace) -> dict[str, Any]:
    """Check, warm up, then measure one scenario."""
    first = check(scenario)
    print(f"~ {scenario.name}: warm-up {args.warmup} s, measure {args.duration} s", flush=True)
    run_wrk(scenario, args.warmup, args)
    stats = run_wrk(scenario, args.duration, args)
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
    }


def scenarios(base_port: int, port: int, staff: str, dispatcher: str, etag: str) -> list[Scenario]:
    """The four measured scenarios; the baseline comes first as the ratio reference."""
    br = {"Accept-Encoding": "br"}
    staff_headers = {**br, "Authorization": f"Bearer {staff}"}
    return [
        Scenario("baseline", "precomputed br bytes, bare Sanic", base_port, "/", br, 200),
        Scenario("staff_first_page", "staff first page, br", port, FEED_PATH, staff_headers, 200),
        Scenario(
            "staff_304",
            "staff first page, If-None-Match",
            port,
            FEED_PATH,
            {**staff_headers, "If-None-Match": etag},
            304,
        ),
        Scenario(
            "dispatcher_filtered",
            "dispatcher, status=assigned&pending, limit=50, br",
            port,
            FILTERED_PATH,
            {**br, "Authorization": f"Bearer {dispatcher}"},
            200,
        ),
    ]


def baseline_command(body_file: Path, port: int, workers: int) -> list[str]:
    """Command line of the precomputed-bytes baseline server."""
    return [
        sys.executable,
        str(BENCH_DIR / "baseline_server.py"),
        str(body_file),
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def fetch_first_page(port: int, token: str) -> Response:
    """The staff first page: its bytes feed the baseline, its ETag the 304 scenario."""
    headers = {"Accept-Encoding": "br", "Authorization": f"Bearer {token}"}
    page = request(port, "GET", FEED_PATH, headers)
    if page.status != 200 or "etag" not in page.headers:
        raise RuntimeError(f"first page: {page.status} {page.headers}")
    return page


def run_all(args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    """Set up the database, start both servers, measure, and always stop them."""
    port = free_port()
    env = server_env(args.database_url, port, args.workers)
    asyncio.run(recreate_database(args.database_url))
    run_server_command("migrate", env)
    run_server_command("seed-demo", env)
    server_log = args.out / "server.log"
    with running([sys.executable, "-m", "server", "run"], env, server_log) as server:
        wait_ready(server, port, "/readyz", server_log)
        staff = login(port, "staff1@demo.local")
        dispatcher = login(port, "dispatcher@demo.local")
        page = fetch_first_page(port, staff)
        body_file = workdir / "staff-first-page.br"
        body_file.write_bytes(page.body)
        base_port = free_port()
        base_cmd = baseline_command(body_file, base_port, args.workers)
        base_log = args.out / "baseline.log"
        with running(base_cmd, os.environ, base_log) as baseline:
            wait_ready(baseline, base_port, "/", base_log)
            etag = page.headers["etag"]
            todo = scenarios(base_port, port, staff, dispatcher, etag)
            return [measure(s, args) for s in todo]


def add_ratios(results: list[dict[str, Any]]) -> None:
    """Express req/s against the baseline measured in the same run."""
    base = results[0]["req_per_s"]
    for r in results:
        r["ratio_to_baseline"] = r["req_per_s"] / base


def print_table(results: list[dict[str, Any]]) -> None:
    """Human-readable summary on stdout."""
    head = (
        f"{'scenario':<22}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'B/resp':>9}{'ratio':>8}{'errors':>8}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        print(
            f"{r['name']:<22}{r['req_per_s']:>10.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
            f"{r['bytes_per_response']:>9.0f}{r['ratio_to_baseline']:>8.2f}{r['errors']:>8}"
        )


def plot(results: list[dict[str, Any]], path: Path, title: str) -> None:
    """Bar charts of req/s (annotated with the ratio) and p50/p99 latency."""
    names = [r["name"] for r in results]
    xs = range(len(names))
    fig = Figure(figsize=(12, 4.5))
    left, right = fig.subplots(1, 2)
    bars = left.bar(xs, [r["req_per_s"] for r in results], color="tab:blue")
    left.bar_label(bars, labels=[f"x{r['ratio_to_baseline']:.2f}" for r in results])
    left.set_ylabel("requests / s")
    left.set_title("throughput (ratio to baseline)")
    width = 0.4
    right.bar([x - width / 2 for x in xs], [r["p50_ms"] for r in results], width, label="p50")
    right.bar([x + width / 2 for x in xs], [r["p99_ms"] for r in results], width, label="p99")
    right.set_ylabel("latency, ms")
    right.set_title("latency")
    right.legend()
    for ax in (left, right):
        ax.set_xticks(list(xs), names, rotation=15)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def write_results(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Save the JSON (timestamped and latest) and the plot."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    doc = {
        "timestamp": stamp,
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "threads": args.threads,
            "workers": args.workers,
        },
        "machine": machine(),
        "scenarios": results,
    }
    save_json(args.out, "feed", stamp, doc)
    title = (
        f"feed benchmark {stamp}: wrk -t{args.threads} -c{args.connections}"
        f" -d{args.duration}s, workers={args.workers}"
    )
    plot(results, args.out / "feed-latest.png", title)
    print(f"results: {args.out / 'feed-latest.json'}, {args.out / 'feed-latest.png'}")


def machine() -> dict[str, Any]:
    """What the figures were measured on (this machine is shared and noisy)."""
    return {"cpus": os.cpu_count(), "platform": platform.platform()}


def save_json(out: Path, name: str, stamp: str, doc: dict[str, Any]) -> None:
    """Keep a run twice: under its time stamp, and as ``<name>-latest.json``."""
    text = json.dumps(doc, indent=2) + "\n"
    (out / f"{name}-{stamp}.json").write_text(text)
    (out / f"{name}-latest.json").write_text(text)


def main() -> None:
    """Entry point."""
    args = parse_args()
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix="feed-bench-") as tmp:
            results = run_all(args, Path(tmp))
    except (RuntimeError, subprocess.SubprocessError) as exc:
        raise SystemExit(f"benchmark failed: {exc}") from exc
    add_ratios(results)
    print_table(results)
    write_results(results, args)


if __name__ == "__main__":
    main()
