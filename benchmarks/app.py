"""App benchmark: the app shell's size on the wire, and how fast the job list comes back on a
reload in Chromium with the server gone, against the same reloads with the server up.

The shell's size is read from the build (``python -m cdn.build``, run first): the Brotli
variant beside index.html and each script and stylesheet, plus the 192 px icon (a PNG, sent
as it is), each also fetched once from the running server with ``Accept-Encoding: br`` to
check that what is served is what was counted. HTTP headers are not counted.

The reloads run in Debian's Chromium driven by Playwright (a persistent profile, a 390x844
viewport) against one server on SQLite in a temporary folder, migrated and seeded with the
demo for today in Bangkok. The demo staff member with the most jobs today signs in through
the app's form and its first-run screens (``benchmarks/app_steps.py``: the offline vault's
PIN, set twice, and the privacy notice, agreed to), untimed; once the service worker
controls the page and the app has kept its data ahead (the ``tinedy-data`` cache with
entries, no longer growing), the page is reloaded N times with the server up (the
baseline), then the server is stopped and the page is reloaded N times more.

A reload with the server up is handed the vault's key by the server and asks nothing. With
the server gone the key is not to be had (it lives only in memory), so every offline reload
shows the PIN screen (``#pin-unlock``) first; the benchmark enters the PIN, and the offline
figures include opening the vault but not the typing. A reload is timed to the first
``ul.jobs li`` of the list, in two ways: in the page, ``performance.now()`` when a
MutationObserver first sees the item (time since the navigation started: its navigation
entry's startTime is 0), less the time the PIN screen waited between showing and being
submitted; and on the wall clock, around ``page.reload()`` and Playwright's wait for the
item to be visible, less the time Playwright spent filling in and submitting the PIN. Where
the PIN was asked, its two parts are also reported: the page's own start (navigation to the
PIN screen, in the page) and the unlock (the PIN submitted to the first job: PBKDF2 with
the vault's iterations, the key unwrapped, the start run again, the list drawn). Every
reload has 10 s; one that runs out counts as a failure, and is left out of the figures.

Run from the repository root:
    .venv/bin/python -m benchmarks.app --reloads 15
"""

import argparse
import asyncio
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from playwright.async_api import BrowserContext, Page, Playwright, ViewportSize, async_playwright
from playwright.async_api import Error as PlaywrightError

from benchmarks.app_steps import FIRST_JOB, PROBE, page_marks, past_first_run, to_list
from benchmarks.harness import (
    PASSWORD,
    REPO_ROOT,
    Failures,
    add_run_options,
    failures_end_run,
    free_port,
    keep_results,
    login,
    prepare_out,
    print_head,
    request,
    results_doc,
    server_env,
    serving,
    stop,
    titled,
    two_panels,
)
from cdn.build import DIST, MANIFEST, build
from server.cluster.processes import SETUP_TIMEOUT_S, run_command

CHROMIUM = "/usr/bin/chromium"
VIEWPORT: ViewportSize = {"width": 390, "height": 844}
BANGKOK = timezone(timedelta(hours=7))
STAFF = [f"staff{n}@demo.local" for n in range(1, 21)]
RELOAD_TIMEOUT_MS = 10_000
SETTLE_S = 0.5  # between reloads, so one reload's background fetches do not run into the next
KEPT_AHEAD_TIMEOUT_S = 30.0
KEPT_AHEAD_STEADY_S = 1.0
SHELL_TYPES = (".js", ".css")
ICON = "icon-192.png"

DATA_ENTRIES = """async () => {
  let entries = 0;
  for (const name of await caches.keys()) {
    if (name === "tinedy-data") entries += (await (await caches.open(name)).keys()).length;
  }
  return entries;
}"""


@dataclass(frozen=True)
class ShellFile:
    """One file of the app shell: its size as built and as sent."""

    name: str
    path: str
    raw_bytes: int
    wire_bytes: int
    encoding: str
    served_bytes: int | None = None


@dataclass
class Reloads(Failures):
    """One series of timed reloads: per reload, ms in the page and on the wall clock (both
    without the PIN's typing); where the PIN was asked, the page's start up to its screen and
    the unlock, in the page, and the typing, on the wall clock."""

    mode: str
    first_job_ms: list[float] = field(default_factory=list)
    document_in_ms: list[float] = field(default_factory=list)
    wall_ms: list[float] = field(default_factory=list)
    pin_screen_ms: list[float] = field(default_factory=list)
    unlock_ms: list[float] = field(default_factory=list)
    typing_ms: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Person:
    """The demo staff member whose phone is simulated, and their jobs today."""

    email: str
    jobs_today: int


def parse_args() -> argparse.Namespace:
    """Read the run settings; defaults match `make bench-app`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reloads", type=int, default=15, help="timed reloads per mode")
    parser.add_argument("--warmup", type=int, default=2, help="untimed reloads before each mode")
    add_run_options(parser)
    args = parser.parse_args()
    if args.reloads < 1 or args.warmup < 0:
        parser.error("--reloads must be positive and --warmup not negative")
    return args


def shell_files(dist: Path) -> list[ShellFile]:
    """index.html, every script and stylesheet in Brotli, and the 192 px icon as it is."""
    assets = json.loads((dist / MANIFEST).read_text())["assets"]
    files = [brotli_file(dist, "index.html", "/", dist / "index.html")]
    for name, asset in sorted(assets.items()):
        built = dist / asset["path"].lstrip("/")
        if built.suffix in SHELL_TYPES:
            files.append(brotli_file(dist, name, asset["path"], built))
    icon = assets[ICON]
    raw = (dist / icon["path"].lstrip("/")).stat().st_size
    files.append(ShellFile(ICON, icon["path"], raw, raw, "identity"))
    return files


def brotli_file(dist: Path, name: str, path: str, built: Path) -> ShellFile:
    """A text file of the shell, sent as the Brotli variant the build wrote beside it."""
    compressed = built.with_name(built.name + ".br")
    return ShellFile(name, path, built.stat().st_size, compressed.stat().st_size, "br")


def served(port: int, files: list[ShellFile]) -> list[ShellFile]:
    """The same files as the server sends them to a browser that accepts Brotli."""
    checked = []
    for file in files:
        answer = request(port, "GET", file.path, {"Accept-Encoding": "br, gzip"})
        if answer.status != 200:
            raise RuntimeError(f"GET {file.path}: {answer.status}")
        checked.append(ShellFile(**{**asdict(file), "served_bytes": len(answer.body)}))
    return checked


def bangkok_day(offset: int = 0) -> str:
    """A day in Bangkok as the app asks for it (the feed reads a date as Bangkok midnight)."""
    return (datetime.now(BANGKOK) + timedelta(days=offset)).date().isoformat()


def require_chromium() -> None:
    """Stop before any set-up when the browser is missing."""
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing (apt-get install chromium)")


def seed(env: Mapping[str, str]) -> None:
    """Migrate and load the demo, anchored on today in Bangkok, as the app counts days."""
    run_command("migrate", env)
    command = [sys.executable, "-m", "server", "seed-demo", "--today", bangkok_day()]
    print(f"+ python -m server seed-demo --today {bangkok_day()}", flush=True)
    subprocess.run(command, cwd=REPO_ROOT, env=env, check=True, timeout=SETUP_TIMEOUT_S)


def jobs_today(port: int, email: str) -> int:
    """How many jobs the app's list will show this person today."""
    token = login(port, email)
    path = f"/api/mobile/jobs?from={bangkok_day()}&to={bangkok_day(1)}&limit=100"
    answer = request(port, "GET", path, {"Authorization": f"Bearer {token}"})
    if answer.status != 200:
        raise RuntimeError(f"GET {path} as {email}: {answer.status} {answer.body[:200]!r}")
    return len(json.loads(answer.body)["jobs"])


def busiest_staff(port: int) -> Person:
    """The demo staff member with the most jobs today (the list to render is the longest)."""
    people = [Person(email, jobs_today(port, email)) for email in STAFF]
    person = max(people, key=lambda p: p.jobs_today)
    if not person.jobs_today:
        raise RuntimeError("no demo staff member has a job today")
    return person


async def sign_in(page: Page, base: str, person: Person) -> None:
    """Through the app's own form and its first-run screens (the PIN, the notice)."""
    await page.goto(base)
    await page.fill("input[name=email]", person.email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("form button")
    await past_first_run(page)


async def controlled(page: Page) -> None:
    """Reload until the service worker controls the page (it claims clients on activation)."""
    await page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    await page.reload()
    await page.wait_for_function("navigator.serviceWorker.controller !== null")
    await page.wait_for_selector(FIRST_JOB)


async def kept_ahead(page: Page) -> int:
    """Wait until the data cache has entries and has stopped growing; answers how many."""
    deadline = time.monotonic() + KEPT_AHEAD_TIMEOUT_S
    seen, steady_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        entries: int = await page.evaluate(DATA_ENTRIES)
        if entries != seen:
            seen, steady_since = entries, time.monotonic()
        elif entries and time.monotonic() - steady_since >= KEPT_AHEAD_STEADY_S:
            return entries
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the data cache did not settle in {KEPT_AHEAD_TIMEOUT_S:.0f} s: {seen}")


async def timed_reload(page: Page, reloads: Reloads) -> None:
    """One reload, timed to the first job of the list (through the PIN screen if the app
    asks), within RELOAD_TIMEOUT_MS."""
    started = time.perf_counter()
    try:
        await page.reload(wait_until="commit", timeout=RELOAD_TIMEOUT_MS)
        left_ms = RELOAD_TIMEOUT_MS - (time.perf_counter() - started) * 1000
        typing_s = await to_list(page, left_ms)
    except PlaywrightError as exc:
        reloads.fail(f"{type(exc).__name__}: {exc.message.splitlines()[0]}")
        return
    wall_ms = (time.perf_counter() - started - typing_s) * 1000
    marks = await page_marks(page)
    if marks.shown_ms is None:
        reloads.fail("the list showed but the probe saw no job (or no PIN submitted)")
        return
    reloads.wall_ms.append(wall_ms)
    reloads.first_job_ms.append(marks.shown_ms)
    reloads.document_in_ms.append(marks.document_in or math.nan)
    if marks.pin_unlock is not None and marks.unlock_ms is not None:
        reloads.pin_screen_ms.append(marks.pin_unlock)
        reloads.unlock_ms.append(marks.unlock_ms)
        reloads.typing_ms.append(typing_s * 1000)


async def reload_series(page: Page, mode: str, count: int, warmup: int) -> Reloads:
    """Untimed warm-up reloads, then ``count`` timed ones, each after a short settle."""
    print(f"~ {mode}: {warmup} warm-up and {count} timed reloads", flush=True)
    for _ in range(warmup):
        await timed_reload(page, Reloads("warm-up"))
        await asyncio.sleep(SETTLE_S)
    reloads = Reloads(mode)
    for _ in range(count):
        await timed_reload(page, reloads)
        await asyncio.sleep(SETTLE_S)
    if not reloads.first_job_ms:
        raise RuntimeError(f"{mode}: no reload showed the list: {reloads.first_failure}")
    return reloads


async def open_browser(profile: Path) -> tuple[Playwright, BrowserContext]:
    """Playwright and a persistent Chromium profile (the app's install path needs one)."""
    playwright = await async_playwright().start()
    context = await playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        args=["--no-sandbox"],
        viewport=VIEWPORT,
        locale="th-TH",
    )
    context.set_default_timeout(RELOAD_TIMEOUT_MS)
    await context.add_init_script(PROBE)
    return playwright, context


async def online_then_offline(
    server: "subprocess.Popen[bytes]",
    base: str,
    person: Person,
    profile: Path,
    args: argparse.Namespace,
) -> tuple[int, list[Reloads]]:
    """Sign in, let the app keep its data, time reloads online, stop the server, time again."""
    playwright, context = await open_browser(profile)
    try:
        page = await context.new_page()
        await sign_in(page, base, person)
        await controlled(page)
        entries = await kept_ahead(page)
        online = await reload_series(page, "online", args.reloads, args.warmup)
        stop(server)  # no signal: the server is really gone (set_offline spares the worker)
        offline = await reload_series(page, "offline", args.reloads, args.warmup)
        return entries, [online, offline]
    finally:
        await context.close()
        await playwright.stop()


def run_all(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Build, seed a fresh SQLite database, serve it, and measure; the server always stops."""
    print(f"+ python -m cdn.build: {build(DIST)}", flush=True)
    port = free_port()
    env = {**server_env(f"sqlite:///{workdir / 'app.sqlite3'}", port, 1), "DATA_DIR": str(workdir)}
    seed(env)
    with serving(env, port, args.out / "app-server.log") as server:
        files = served(port, shell_files(DIST))
        person = busiest_staff(port)
        print(f"~ {person.email}: {person.jobs_today} jobs today", flush=True)
        base = f"http://127.0.0.1:{port}"
        entries, series = asyncio.run(
            online_then_offline(server, base, person, workdir / "profile", args)
        )
    return {"files": files, "person": person, "data_entries": entries, "series": series}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (of 15 values, p90 is the 14th smallest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


TIMINGS = ("first_job_ms", "document_in_ms", "wall_ms", "pin_screen_ms", "unlock_ms", "typing_ms")


def summarise(reloads: Reloads) -> dict[str, Any]:
    """Median and p90 of each timing of one series, with its raw values (None: no PIN asked)."""
    figures: dict[str, Any] = {"mode": reloads.mode, "ok": len(reloads.first_job_ms)}
    figures["pin_asked"] = len(reloads.unlock_ms)
    for name in TIMINGS:
        values: list[float] = getattr(reloads, name)
        figures[name] = (
            {"median": statistics.median(values), "p90": percentile(values, 90), "values": values}
            if values
            else None
        )
    figures["failures"] = reloads.failures
    figures["first_failure"] = reloads.first_failure
    return figures


def ratios(online: dict[str, Any], offline: dict[str, Any]) -> dict[str, float]:
    """Offline over online, for the medians and p90s of both timings."""
    return {
        f"{timing}_{stat}": offline[timing][stat] / online[timing][stat]
        for timing in ("first_job_ms", "wall_ms")
        for stat in ("median", "p90")
    }


def print_shell(files: list[ShellFile]) -> None:
    """The shell's files, as built and as sent."""
    head = f"{'app shell file':<28}{'raw B':>9}{'wire B':>9}{'served B':>10}  encoding"
    print(head)
    print("-" * len(head))
    for f in files:
        print(
            f"{f.name:<28}{f.raw_bytes:>9}{f.wire_bytes:>9}{f.served_bytes or 0:>10}  {f.encoding}"
        )
    raw = sum(f.raw_bytes for f in files)
    wire = sum(f.wire_bytes for f in files)
    sent = sum(f.served_bytes or 0 for f in files)
    print(f"{'total':<28}{raw:>9}{wire:>9}{sent:>10}  (bodies only, no headers)")


def median_of(figures: dict[str, Any] | None) -> str:
    return "-" if figures is None else f"{figures['median']:.1f}"


def print_reloads(summaries: list[dict[str, Any]], quotient: dict[str, float], n: int) -> None:
    """Reload timings of both modes, and offline over online."""
    print(
        f"\nreload -> first `{FIRST_JOB}`, {n} timed reloads per mode; where the app asks for the"
        " vault's PIN (no key from the server), the benchmark enters it, and its typing is left out"
        "\n  in page: performance.now() at the first job in the DOM (ms since navigation start),"
        " less the time the PIN screen waited between showing and its submit"
        "\n  doc in: navigation entry responseEnd (the HTML from the network or the worker)"
        "\n  wall: perf_counter around page.reload() + wait_for_selector(visible), less"
        " Playwright's fill + click of the PIN"
        "\n  PIN: reloads that asked for it; to PIN: in page, navigation -> the PIN screen (the"
        " page's own start); unlock: in page, PIN submitted -> first job (PBKDF2, unwrap, list)"
    )
    head = (
        f"{'mode':<9}{'ok':>4}{'page p50':>10}{'page p90':>10}{'doc p50':>9}"
        f"{'wall p50':>10}{'wall p90':>10}{'PIN':>5}{'to PIN p50':>12}{'unlock p50':>12}"
        f"{'unlock p90':>12}{'failed':>8}"
    )
    print_head(head)
    for s in summaries:
        page, doc, wall = s["first_job_ms"], s["document_in_ms"], s["wall_ms"]
        unlock = s["unlock_ms"]
        unlock_p90 = "-" if unlock is None else f"{unlock['p90']:.1f}"
        print(
            f"{s['mode']:<9}{s['ok']:>4}{page['median']:>10.1f}{page['p90']:>10.1f}"
            f"{doc['median']:>9.1f}{wall['median']:>10.1f}{wall['p90']:>10.1f}"
            f"{s['pin_asked']:>5}{median_of(s['pin_screen_ms']):>12}{median_of(unlock):>12}"
            f"{unlock_p90:>12}{s['failures']:>8}"
        )
    print(
        f"offline/online: in page median x{quotient['first_job_ms_median']:.2f},"
        f" p90 x{quotient['first_job_ms_p90']:.2f}; wall median x{quotient['wall_ms_median']:.2f},"
        f" p90 x{quotient['wall_ms_p90']:.2f}"
    )
    for s in summaries:
        if s["pin_screen_ms"] is not None:
            print(
                f"{s['mode']}: the page's own start to the PIN screen, median"
                f" {s['pin_screen_ms']['median']:.1f} ms, over the online reload's"
                f" {summaries[0]['first_job_ms']['median']:.1f} ms to the list:"
                f" x{s['pin_screen_ms']['median'] / summaries[0]['first_job_ms']['median']:.2f}"
            )
    for s in summaries:
        if s["first_failure"]:
            print(f"first failure {s['mode']}: {s['first_failure']}")


def plot(files: list[ShellFile], summaries: list[dict[str, Any]], title: str) -> Figure:
    """The shell's bytes per file, and every timed reload of both modes."""
    fig, left, right = two_panels()
    bars = left.barh([f.name for f in files], [f.wire_bytes for f in files])
    left.bar_label(bars, labels=[f"{f.wire_bytes:,} B" for f in files])
    left.invert_yaxis()
    left.margins(x=0.2)  # room for the labels
    left.set_xlabel("bytes on the wire (br; the icon as it is)")
    left.set_title(f"app shell: {sum(f.wire_bytes for f in files):,} B")
    series = [s["first_job_ms"]["values"] for s in summaries]
    right.boxplot(series, showfliers=False)
    for n, values in enumerate(series, start=1):
        right.scatter([n] * len(values), values, s=12, alpha=0.6)
    right.set_xticks(range(1, len(summaries) + 1), [s["mode"] for s in summaries])
    right.set_ylabel("ms to the first job (in page, PIN typing out)")
    right.set_title("reload to the job list")
    return titled(fig, title)


def write_results(result: dict[str, Any], args: argparse.Namespace) -> None:
    """Save the JSON (timestamped and latest) and the plot."""
    files: list[ShellFile] = result["files"]
    doc = results_doc(
        {"reloads": args.reloads, "warmup": args.warmup, "viewport": VIEWPORT},
        chromium=CHROMIUM,
        build=json.loads((DIST / MANIFEST).read_text())["version"],
        shell={
            "files": [asdict(f) for f in files],
            "wire_bytes": sum(f.wire_bytes for f in files),
            "raw_bytes": sum(f.raw_bytes for f in files),
        },
        person=asdict(result["person"]),
        data_cache_entries=result["data_entries"],
        reloads=result["summaries"],
        offline_over_online=result["ratios"],
    )
    title = f"app benchmark {doc['timestamp']}: Chromium 390x844, {args.reloads} reloads per mode"
    keep_results(args.out, "app", doc, lambda: plot(files, result["summaries"], title))


def main() -> None:
    """Entry point."""
    args = parse_args()
    prepare_out(args)
    require_chromium()
    with (
        failures_end_run(OSError, PlaywrightError),
        tempfile.TemporaryDirectory(prefix="app-bench-") as tmp,
    ):
        result = run_all(args, Path(tmp))
    result["summaries"] = [summarise(s) for s in result["series"]]
    result["ratios"] = ratios(*result["summaries"])
    print_shell(result["files"])
    print_reloads(result["summaries"], result["ratios"], args.reloads)
    write_results(result, args)


if __name__ == "__main__":
    main()
