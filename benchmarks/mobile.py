"""Mobile benchmark: how long the app takes to show today's jobs on a throttled phone network,
on a cold start, a warm start and offline, and how many bytes each start moves.

Chromium (Debian's, driven by Playwright, a 390x844 Thai phone) runs against one server on
SQLite, seeded with the demo for today in Bangkok; the person is the demo staff member with
the most jobs today. Each round starts from a fresh browser profile:

- **cold**: the app opened for the first time (no service worker, no cache): timed from the
  navigation to the sign-in form; then, separately, from tapping "sign in" to the job list
  (the login, the vault's offline key, the list and everything the first page needs, over
  the same network), through the first-run screens (``benchmarks/app_steps.py``): the PIN
  screen (a new phone: the PIN set twice, then wrapped over the key with PBKDF2) and the
  privacy notice (agreed to). The typing and the reading are the benchmark's, so the time
  each screen waited for them is left out: the sign-in figure is the sum of its steps, each
  also reported: "sign in" tapped -> the PIN screen; the PIN submitted -> the notice (or
  the list); "agree" tapped -> the list, printed for every cold start. The notice is shown
  once per person and version of its text, as the server records it, and every round signs
  the same person in on a new phone against the same database: only the run's first cold
  start shows it (a new employee's first phone); the later ones fetch it and go on (a
  replaced phone), so their sign-in has one step and one request fewer.
- **warm**: the network unthrottled, the service worker takes control and the app keeps its
  data ahead (the ``tinedy-data`` cache stops growing); then, ``--reopens`` times, the page
  is closed and the app opened again in a new tab, timed from the navigation to the first
  job of the list. The vault's key lives only in the page's memory, so each open first asks
  the server for it over the throttled network (``key ms``: when its request ended); a
  start that gets no key within the app's wait would ask for the PIN (see offline). The
  worker is left running (see ``BrowserDevTools``): its start-up, tens of milliseconds when
  the phone has stopped it, is not in the figure.
- **offline**: the same reopens with the page and the worker offline, and the server stopped
  too (Chromium's own check for a new worker script is past any emulation). No key can be
  had, so the app asks for the PIN (``#pin-unlock``) and the benchmark enters it: the time
  to the first job includes opening the vault but not the typing, and is reported in two
  parts too: the page's own start (navigation -> the PIN screen) and the unlock (the PIN
  submitted -> the first job: PBKDF2, the key unwrapped, the list drawn from the kept copy).

The network is Chrome DevTools' own presets, applied with ``Network.emulateNetworkConditions``
to the page *and* to the service worker, which makes its own fetches (the navigation and the
API calls of a controlled page go through it): a DevTools connection of the benchmark's own
(``--remote-debugging-port``) attaches to every service worker as it starts, holds it until
its network is throttled, then lets it run. The timings are the page's own
(``performance.now()`` when a MutationObserver first sees the element: the navigation started
at 0). Bytes on the wire are ``Network.loadingFinished.encodedDataLength`` (headers included)
of every request the page or the worker sent to the network, not those answered by the
worker or the HTTP cache, plus the bytes so far of requests still open (the live stream):
until the list is shown, and over the first ``--window`` seconds of the start.

Run from the repository root:
    .venv/bin/python -m benchmarks.mobile --rounds 2 --reopens 3
"""

import argparse
import asyncio
import itertools
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from playwright.async_api import BrowserContext, CDPSession, Page, async_playwright
from playwright.async_api import Error as PlaywrightError
from websockets.asyncio.client import ClientConnection, connect

from benchmarks.app import (
    CHROMIUM,
    VIEWPORT,
    Person,
    busiest_staff,
    kept_ahead,
    require_chromium,
    seed,
)
from benchmarks.app_steps import (
    PROBE,
    SIGN_IN_FORM,
    Stuck,
    page_marks,
    past_first_run,
    to_list,
)
from benchmarks.harness import (
    PASSWORD,
    add_run_options,
    failures_end_run,
    free_port,
    keep_results,
    prepare_out,
    print_head,
    results_doc,
    server_env,
    serving,
    titled,
    two_panels,
)
from cdn.build import DIST, build

START_TIMEOUT_MS = 60_000  # a cold start on slow 3G takes seconds; a broken one never ends
CDP_TIMEOUT_S = 10.0
PORT_FILE_TIMEOUT_S = 10.0
GOAL_WARM_MS = 1000.0

# Chrome DevTools' presets (front_end/core/sdk/NetworkManager.ts; the same in Puppeteer's
# PredefinedNetworkConditions): a nominal RTT and bandwidth, with DevTools' adjustments
# (latency x5 and throughput x0.8 for slow 3G, latency x3.75 and throughput x0.9 for fast 3G),
# since the emulated latency is added once per request, not per round trip. Recent DevTools
# call them "3G" and "Slow 4G".
NETWORKS: dict[str, dict[str, Any]] = {
    "slow-3g": {
        "offline": False,
        "latency": 400 * 5,
        "downloadThroughput": 500 * 1000 / 8 * 0.8,
        "uploadThroughput": 500 * 1000 / 8 * 0.8,
    },
    "fast-3g": {
        "offline": False,
        "latency": 150 * 3.75,
        "downloadThroughput": 1.6 * 1000 * 1000 / 8 * 0.9,
        "uploadThroughput": 750 * 1000 / 8 * 0.9,
    },
}
UNTHROTTLED = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
OFFLINE = {"offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0}

# Through the worker to the network, timed in the page: a job detail (network-first in the
# worker) that does not exist, so no kept copy can answer for the network.
WORKER_FETCH = """async () => {
  const started = performance.now();
  try {
    await fetch("/api/mobile/jobs/00000000-0000-0000-0000-000000000000", { cache: "reload" });
  } catch {
    return null;
  }
  return performance.now() - started;
}"""


@dataclass
class Wire:
    """Requests seen on one DevTools session (a page's or a service worker's) and their bytes.
    Requests answered by a service worker or the HTTP cache moved nothing on the network."""

    started: dict[str, float] = field(default_factory=dict)
    cached: set[str] = field(default_factory=set)
    received: dict[str, int] = field(default_factory=dict)
    finished: dict[str, int] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)

    def on_event(self, method: str, params: dict[str, Any]) -> None:
        """Take one ``Network.*`` event."""
        request_id = params.get("requestId", "")
        if method == "Network.requestWillBeSent":
            self.started.setdefault(request_id, params["timestamp"])
        elif method == "Network.responseReceived":
            response = params["response"]
            if response.get("fromServiceWorker") or response.get("fromDiskCache"):
                self.cached.add(request_id)
        elif method == "Network.dataReceived":
            length = params.get("encodedDataLength", 0)
            self.received[request_id] = self.received.get(request_id, 0) + length
        elif method == "Network.loadingFinished":
            self.finished[request_id] = int(params["encodedDataLength"])
        elif method == "Network.loadingFailed":
            self.failed.add(request_id)

    def bytes_moved(self) -> int:
        """Finished requests' totals, and what open ones have received so far."""
        ids = set(self.started) - self.cached
        return sum(self.finished.get(i, self.received.get(i, 0)) for i in ids)

    def network_requests(self) -> int:
        return len((set(self.started) - self.cached) - self.failed)


class BrowserDevTools:
    """A DevTools connection of our own to the whole browser. Playwright's sessions reach
    pages only; this one attaches to each service worker as it starts (paused until told to
    run), applies the current network conditions to it and records its requests.

    A worker that stops keeps its session (Chromium reports it crashed) but not its network
    conditions, and when it starts again its first fetch comes within a millisecond: too
    soon to throttle it again reliably. So the reopens leave the worker running (with this
    session attached, Chromium did not stop it when idle in our runs); were it restarted
    anyway, it is sent its conditions again, and the fetch timed after each start
    (``WORKER_FETCH``) tells whether they held."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.ids = itertools.count(1)
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.workers: dict[str, Wire] = {}  # session id -> that worker's requests
        self.running: set[str] = set()  # sessions of the workers attached now
        self.conditions: dict[str, Any] = UNTHROTTLED
        self.tasks: set[asyncio.Task[None]] = set()
        self.reader = asyncio.create_task(self.read())

    @classmethod
    async def open(cls, profile: Path) -> "BrowserDevTools":
        """Connect to the browser whose profile is ``profile`` and attach to its workers."""
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + PORT_FILE_TIMEOUT_S
        while not port_file.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"Chromium wrote no {port_file}")
            await asyncio.sleep(0.05)
        port, path = port_file.read_text().split()[:2]
        devtools = cls(await connect(f"ws://127.0.0.1:{port}{path}", max_size=None))
        await devtools.send(
            "Target.setAutoAttach",
            {
                "autoAttach": True,
                "waitForDebuggerOnStart": True,
                "flatten": True,
                "filter": [{"type": "service_worker"}],
            },
        )
        return devtools

    async def close(self) -> None:
        self.reader.cancel()
        await self.socket.close()

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        """One command, answered within CDP_TIMEOUT_S."""
        number = next(self.ids)
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        answer = self.waiting[number] = asyncio.get_running_loop().create_future()
        await self.socket.send(json.dumps(message))
        return await asyncio.wait_for(answer, CDP_TIMEOUT_S)

    async def read(self) -> None:
        async for raw in self.socket:
            message = json.loads(raw)
            if "id" in message:
                answer = self.waiting.pop(message["id"], None)
                if answer is None or answer.done():
                    continue  # posted to a stopped worker, or given up on
                if "error" in message:
                    answer.set_exception(RuntimeError(f"CDP: {message['error']}"))
                else:
                    answer.set_result(message.get("result", {}))
            elif message["method"] == "Target.detachedFromTarget":
                self.running.discard(message["params"]["sessionId"])
            elif message["method"] == "Inspector.targetReloadedAfterCrash":
                await self.post(
                    "Network.emulateNetworkConditions", self.conditions, message["sessionId"]
                )
            elif message["method"] == "Target.attachedToTarget":
                task = asyncio.create_task(self.throttle_worker(message["params"]["sessionId"]))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            elif message.get("sessionId") in self.workers:
                self.workers[message["sessionId"]].on_event(message["method"], message["params"])

    async def throttle_worker(self, session: str) -> None:
        """A worker just started: its network conditions first, then let it run."""
        self.workers[session] = Wire()
        self.running.add(session)
        await self.send("Network.enable", {}, session)
        await self.send("Network.emulateNetworkConditions", self.conditions, session)
        await self.send("Runtime.runIfWaitingForDebugger", {}, session)

    async def set_conditions(self, conditions: dict[str, Any]) -> None:
        """Conditions for the workers running now and those that start later."""
        self.conditions = conditions
        for session in list(self.running):
            # A worker that stopped meanwhile does not answer; the command waits for its start.
            with suppress(TimeoutError):
                await self.send("Network.emulateNetworkConditions", conditions, session)

    async def post(self, method: str, params: dict[str, Any], session: str) -> None:
        """A command whose answer nobody waits for (a worker answers only once running)."""
        message = {"id": next(self.ids), "method": method, "params": params, "sessionId": session}
        await self.socket.send(json.dumps(message))

    def bytes_moved(self) -> int:
        return sum(wire.bytes_moved() for wire in self.workers.values())

    def network_requests(self) -> int:
        return sum(wire.network_requests() for wire in self.workers.values())

    def forget_requests(self) -> None:
        """Count from here on (a new start)."""
        self.workers = {session: Wire() for session in self.running}


@dataclass
class Start:
    """One timed start: its milliseconds, and its bytes and requests on the network."""

    kind: str
    ms: float | None = None  # less the time the PIN screen waited for the typing
    document_ms: float | None = None  # when the page's HTML was in (from the worker or not)
    # Reopens: when the page's request for the vault's key ended (with signal, its answer in;
    # offline, its failure, after which the app asks for the PIN).
    key_ms: float | None = None
    # Reopens: the page's own start (to the PIN screen if asked, else the list); the unlock
    # (the PIN submitted -> the first job), when asked.
    opened_ms: float | None = None
    pin_asked: bool = False
    unlock_ms: float | None = None
    # Cold: "sign in" tapped -> the list, less the waits for the person, and its steps.
    sign_in_ms: float | None = None
    to_pin_ms: float | None = None
    after_pin_ms: float | None = None
    notice_ms: float | None = None
    notice_shown: bool = False
    bytes_to_shown: int = 0
    bytes_in_window: int = 0
    requests_in_window: int = 0
    # After the window, one fetch through the worker to the network, timed in the page:
    # at least the emulated latency when the worker is throttled; None when it failed.
    worker_fetch_ms: float | None = None
    failure: str | None = None


@dataclass
class Tab:
    """A page with its DevTools session, throttled before its first navigation."""

    page: Page
    cdp: CDPSession
    wire: Wire


async def open_tab(context: BrowserContext, conditions: dict[str, Any], cpu_rate: float) -> Tab:
    page = await context.new_page()
    cdp = await context.new_cdp_session(page)
    wire = Wire()
    for name in (
        "Network.requestWillBeSent",
        "Network.responseReceived",
        "Network.dataReceived",
        "Network.loadingFinished",
        "Network.loadingFailed",
    ):
        cdp.on(name, lambda params, name=name: wire.on_event(name, params))
    await cdp.send("Network.enable")
    await cdp.send("Network.emulateNetworkConditions", conditions)
    await cdp.send("Emulation.setCPUThrottlingRate", {"rate": cpu_rate})
    return Tab(page, cdp, wire)


async def timed(
    tab: Tab,
    devtools: BrowserDevTools,
    start: Start,
    steps: Callable[[], Awaitable[None]],
    window_s: float,
) -> Start:
    """Run ``steps`` (from the navigation to what is shown), then count the bytes: up to
    now, and when ``window_s`` seconds have passed since the start."""
    began = time.monotonic()
    try:
        await steps()
    except PlaywrightError as exc:
        start.failure = f"{type(exc).__name__}: {exc.message.splitlines()[0]}"
        return start
    except Stuck as exc:
        start.failure = f"{type(exc).__name__}: {exc}"
        return start
    start.bytes_to_shown = tab.wire.bytes_moved() + devtools.bytes_moved()
    await asyncio.sleep(max(0.0, window_s - (time.monotonic() - began)))
    start.bytes_in_window = tab.wire.bytes_moved() + devtools.bytes_moved()
    start.requests_in_window = tab.wire.network_requests() + devtools.network_requests()
    start.worker_fetch_ms = await tab.page.evaluate(WORKER_FETCH)
    return start


async def cold_start(
    tab: Tab, devtools: BrowserDevTools, base: str, person: Person, window_s: float
) -> Start:
    """The first visit: to the sign-in form; then from the tap on "sign in" to the list,
    through the PIN and notice screens, less the time they waited for the person."""
    start = Start("cold")

    async def steps() -> None:
        await tab.page.goto(base, wait_until="commit")
        await tab.page.wait_for_selector(SIGN_IN_FORM)
        await tab.page.fill("input[name=email]", person.email)
        await tab.page.fill("input[name=password]", PASSWORD)
        await tab.page.click("form button")
        await past_first_run(tab.page)
        marks = await page_marks(tab.page)
        if marks.form is None or marks.sign_in_ms is None:
            raise Stuck(f"a screen of the sign-in was not seen: {marks}")
        start.ms = marks.form
        start.document_ms = marks.document_in
        start.sign_in_ms = marks.sign_in_ms
        start.to_pin_ms = marks.to_pin_ms
        start.after_pin_ms = marks.after_pin_ms
        start.notice_ms = marks.notice_ms
        start.notice_shown = marks.notice is not None

    return await timed(tab, devtools, start, steps, window_s)


async def reopen(tab: Tab, devtools: BrowserDevTools, base: str, kind: str, window: float) -> Start:
    """The app opened again in a new tab: from the navigation to the first job, through
    the PIN screen if the app asks for it (its typing left out)."""
    start = Start(kind)

    async def steps() -> None:
        await tab.page.goto(base, wait_until="commit")
        await to_list(tab.page, START_TIMEOUT_MS)
        marks = await page_marks(tab.page)
        if marks.shown_ms is None:
            raise Stuck(f"the list showed but the probe missed a mark: {marks}")
        start.ms = marks.shown_ms
        start.document_ms = marks.document_in
        start.key_ms = marks.key_in
        start.opened_ms = marks.opened_ms
        start.pin_asked = marks.pin_unlock is not None
        start.unlock_ms = marks.unlock_ms

    return await timed(tab, devtools, start, steps, window)


async def settle_warm(tab: Tab, devtools: BrowserDevTools) -> int:
    """Unthrottled: let the worker take control and the app keep its data ahead."""
    await devtools.set_conditions(UNTHROTTLED)
    await tab.cdp.send("Network.emulateNetworkConditions", UNTHROTTLED)
    await tab.cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
    await tab.page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    await tab.page.wait_for_function("navigator.serviceWorker.controller !== null")
    return await kept_ahead(tab.page)


@dataclass(frozen=True)
class Server:
    """The app on one port and one database, started again for each round."""

    env: dict[str, str]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @contextmanager
    def up(self) -> Iterator[None]:
        with serving(self.env, self.port, self.log):
            yield


async def reopens(
    context: BrowserContext,
    devtools: BrowserDevTools,
    base: str,
    tab: Tab,
    kind: str,
    conditions: dict[str, Any],
    args: argparse.Namespace,
) -> tuple[Tab, list[Start]]:
    """Close the app and open it again in a new tab, ``--reopens`` times."""
    starts = []
    for _ in range(args.reopens):
        await tab.page.close()
        tab = await open_tab(context, conditions, args.cpu_throttle)
        await devtools.set_conditions(conditions)
        devtools.forget_requests()
        starts.append(await reopen(tab, devtools, base, kind, args.window))
    return tab, starts


async def one_round(
    context: BrowserContext,
    devtools: BrowserDevTools,
    server: Server,
    person: Person,
    network: str,
    args: argparse.Namespace,
) -> tuple[list[Start], int]:
    """A fresh profile: one cold start, the warm reopens, then the offline ones with the
    server stopped as well (Chromium checks for a new worker itself, past any emulation)."""
    throttled = NETWORKS[network]
    await devtools.set_conditions(throttled)
    tab = await open_tab(context, throttled, args.cpu_throttle)
    with server.up():
        starts = [await cold_start(tab, devtools, server.base, person, args.window)]
        if starts[0].failure:
            return starts, 0
        entries = await settle_warm(tab, devtools)
        tab, warm = await reopens(context, devtools, server.base, tab, "warm", throttled, args)
    tab, offline = await reopens(context, devtools, server.base, tab, "offline", OFFLINE, args)
    await tab.page.close()
    return starts + warm + offline, entries


async def measure_network(
    server: Server, person: Person, network: str, args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    """``--rounds`` fresh profiles on one network."""
    playwright = await async_playwright().start()
    starts: list[Start] = []
    entries: list[int] = []
    try:
        for n in range(args.rounds):
            print(f"~ {network}: round {n + 1} of {args.rounds}", flush=True)
            profile = workdir / f"profile-{network}-{n}"
            context = await playwright.chromium.launch_persistent_context(
                str(profile),
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--remote-debugging-port=0"],
                viewport=VIEWPORT,
                locale="th-TH",
            )
            context.set_default_timeout(START_TIMEOUT_MS)
            await context.add_init_script(PROBE)
            devtools = await BrowserDevTools.open(profile)
            try:
                done, kept = await one_round(context, devtools, server, person, network, args)
                starts += done
                entries.append(kept)
            finally:
                await devtools.close()
                await context.close()
    finally:
        await playwright.stop()
    return {"network": network, "starts": starts, "data_cache_entries": entries}


def run_all(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Build, seed a fresh SQLite database, and measure; the server always stops."""
    print(f"+ python -m cdn.build: {build(DIST)}", flush=True)
    port = free_port()
    env = {**server_env(f"sqlite:///{workdir / 'app.sqlite3'}", port, 1), "DATA_DIR": str(workdir)}
    seed(env)
    server = Server(env, port, args.out / "mobile-server.log")
    with server.up():
        person = busiest_staff(port)
    print(f"~ {person.email}: {person.jobs_today} jobs today", flush=True)
    networks = [
        asyncio.run(measure_network(server, person, network, args, workdir))
        for network in args.networks
    ]
    return {"person": person, "networks": networks}


TIMINGS = (
    "ms",
    "document_ms",
    "key_ms",
    "opened_ms",
    "unlock_ms",
    "sign_in_ms",
    "to_pin_ms",
    "after_pin_ms",
    "notice_ms",
    "bytes_to_shown",
    "bytes_in_window",
)


COLD_STEPS = ("sign_in_ms", "to_pin_ms", "after_pin_ms", "notice_ms", "notice_shown")


def summarise(network: dict[str, Any]) -> list[dict[str, Any]]:
    """Per kind of start: medians of the times and bytes, and the failures; each cold
    start's sign-in steps (with the notice or without, they are not alike)."""
    rows = []
    for kind in ("cold", "warm", "offline"):
        starts = [s for s in network["starts"] if s.kind == kind]
        ok = [s for s in starts if s.failure is None and s.ms is not None]
        row: dict[str, Any] = {"network": network["network"], "kind": kind, "ok": len(ok)}
        row["failures"] = [s.failure for s in starts if s.failure]
        latency = NETWORKS[network["network"]]["latency"]
        fetched = [s.worker_fetch_ms for s in ok]
        row["worker_fetch_ms"] = fetched
        row["worker_unthrottled"] = sum(
            ms is not None and (kind == "offline" or ms < latency) for ms in fetched
        )
        row["pin_asked"] = sum(s.pin_asked for s in ok)
        row["notice_shown"] = sum(s.notice_shown for s in ok)
        row["steps"] = [
            {name: getattr(s, name) for name in COLD_STEPS} for s in ok if kind == "cold"
        ]
        for name in TIMINGS:
            values = [getattr(s, name) for s in ok if getattr(s, name) is not None]
            row[name] = statistics.median(values) if values else None
            row[f"{name}_max"] = max(values) if values else None
        rows.append(row)
    return rows


def ms_of(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Medians per network and kind of start."""
    print(
        f"\nnavigation -> shown (cold: the sign-in form; warm, offline: the first job, through"
        f" the PIN screen where the app asks for it, its typing left out), median of each kind;"
        f" CPU x{args.cpu_throttle:g} on the page; bytes include headers"
        "\n  key ms: navigation -> the end of the request for the vault's key (offline: its"
        " failure); opened ms: navigation -> the first screen (the PIN's if asked, else the"
        " list); PIN: starts that asked for it; unlock ms: the PIN submitted -> the first job"
        '\n  sign-in ms (cold): "sign in" tapped -> the first job, less the time the PIN and'
        " notice screens waited for the person (its steps below)"
    )
    head = (
        f"{'network':<9}{'start':<9}{'ok':>3}{'html ms':>9}{'key ms':>8}{'opened ms':>11}"
        f"{'PIN':>4}{'unlock ms':>11}{'shown ms':>10}{'max ms':>9}{'sign-in ms':>12}"
        f"{'B to shown':>12}{'B in window':>13}"
    )
    print_head(head)
    for r in rows:
        print(
            f"{r['network']:<9}{r['kind']:<9}{r['ok']:>3}{ms_of(r['document_ms']):>9}"
            f"{ms_of(r['key_ms']):>8}{ms_of(r['opened_ms']):>11}{r['pin_asked']:>4}"
            f"{ms_of(r['unlock_ms']):>11}{ms_of(r['ms']):>10}{ms_of(r['ms_max']):>9}"
            f"{ms_of(r['sign_in_ms']):>12}"
            f"{r['bytes_to_shown'] or 0:>12.0f}{r['bytes_in_window'] or 0:>13.0f}"
        )
        for step in r["steps"]:
            notice = (
                f"; agree -> list {ms_of(step['notice_ms'])}"
                if step["notice_shown"]
                else " (the notice agreed to already: not shown)"
            )
            print(
                f"  sign-in {ms_of(step['sign_in_ms'])} ms: sign in -> PIN screen"
                f" {ms_of(step['to_pin_ms'])}; PIN submitted -> notice or list"
                f" {ms_of(step['after_pin_ms'])}{notice}"
            )
        for failure in r["failures"][:1]:
            print(f"  first failure: {failure}")
        if r["worker_unthrottled"]:
            print(f"  PROBLEM: the worker's network was not throttled: {r['worker_fetch_ms']}")
    for r in rows:
        if r["kind"] == "warm" and r["network"] == "slow-3g" and r["ms_max"] is not None:
            verdict = "met" if r["ms_max"] < GOAL_WARM_MS else "NOT met"
            print(
                f"goal: warm start under {GOAL_WARM_MS:.0f} ms on slow 3G (every start): {verdict}"
            )


def plot(rows: list[dict[str, Any]], networks: list[dict[str, Any]], title: str) -> Figure:
    """Every start's time by network and kind, and the median bytes of each."""
    fig, left, right = two_panels()
    labels, series = [], []
    for network in networks:
        for kind in ("cold", "warm", "offline"):
            labels.append(f"{network['network']}\n{kind}")
            series.append([s.ms for s in network["starts"] if s.kind == kind and s.ms is not None])
    for n, values in enumerate(series, start=1):
        left.scatter([n] * len(values), values, s=14, alpha=0.7)
    left.axhline(GOAL_WARM_MS, color="tab:red", linestyle="--", label="warm goal, 1 s")
    left.set_xticks(range(1, len(labels) + 1), labels)
    left.set_yscale("log")
    left.set_ylabel("ms to shown (cold: sign-in form; PIN typing out)")
    left.set_title("time to the job list")
    left.legend()
    xs = range(len(rows))
    width = 0.4
    right.bar([x - width / 2 for x in xs], [r["bytes_to_shown"] or 0 for r in rows], width)
    right.bar([x + width / 2 for x in xs], [r["bytes_in_window"] or 0 for r in rows], width)
    right.legend(["until shown", "in the window"])
    right.set_xticks(list(xs), [f"{r['network']}\n{r['kind']}" for r in rows])
    right.set_ylabel("bytes on the wire (median)")
    right.set_title("bytes per start")
    return titled(fig, title)


def write_results(
    result: dict[str, Any], rows: list[dict[str, Any]], args: argparse.Namespace
) -> None:
    """Save the JSON (timestamped and latest) and the plot."""
    settings = {
        "rounds": args.rounds,
        "reopens": args.reopens,
        "window_s": args.window,
        "cpu_throttle": args.cpu_throttle,
        "viewport": VIEWPORT,
        "networks": {name: NETWORKS[name] for name in args.networks},
        "throttled": "the page and every service worker (Network.emulateNetworkConditions);"
        " CPU throttling on the page only",
    }
    networks = result["networks"]
    doc = results_doc(
        settings,
        load_average=os.getloadavg(),
        chromium=CHROMIUM,
        person=asdict(result["person"]),
        summary=rows,
        starts={n["network"]: [asdict(s) for s in n["starts"]] for n in networks},
        data_cache_entries={n["network"]: n["data_cache_entries"] for n in networks},
    )
    title = (
        f"mobile benchmark {doc['timestamp']}: Chromium 390x844, DevTools network presets,"
        f" CPU x{args.cpu_throttle:g}"
    )
    keep_results(args.out, "mobile", doc, lambda: plot(rows, networks, title))


def parse_args() -> argparse.Namespace:
    """Read the run settings; defaults match `make bench-mobile`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="+", choices=sorted(NETWORKS), default=list(NETWORKS))
    parser.add_argument("--rounds", type=int, default=2, help="fresh profiles per network")
    parser.add_argument("--reopens", type=int, default=3, help="warm and offline starts per round")
    parser.add_argument("--window", type=float, default=6.0, help="seconds of bytes per start")
    parser.add_argument("--cpu-throttle", type=float, default=4.0, help="page CPU slowdown")
    add_run_options(parser)
    args = parser.parse_args()
    if args.rounds < 1 or args.reopens < 1 or args.cpu_throttle < 1:
        parser.error("--rounds, --reopens and --cpu-throttle must be at least 1")
    return args


def main() -> None:
    """Entry point."""
    args = parse_args()
    prepare_out(args)
    require_chromium()
    print(f"load average: {os.getloadavg()}", flush=True)
    with (
        failures_end_run(OSError, PlaywrightError),
        tempfile.TemporaryDirectory(prefix="mobile-bench-") as tmp,
    ):
        result = run_all(args, Path(tmp))
    rows = [row for network in result["networks"] for row in summarise(network)]
    print_table(rows, args)
    write_results(result, rows, args)


if __name__ == "__main__":
    main()
