"""What the browser tests share: the app as a real process on loopback, and the steps a
person takes in it (sign in, open a job, lose the signal)."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import BrowserContext, CDPSession, Page

from server.core.clock import BANGKOK
from tests.requirements import require_tool
from tests.servers import spawn_server, wait_for
from tests.world import TEST_PASSWORD, World, add_jobs, add_staff, add_user

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
PHONE: dict[str, Any] = {
    "locale": "th-TH",
    "viewport": {"width": 390, "height": 844},
    "bypass_csp": True,
}
"""Every browser context is a Thai phone unless a test says otherwise. It bypasses the shell's
Content Security Policy: Playwright evaluates string predicates (``wait_for_function``) in the
page, which the policy forbids; tests/security/test_shell_policy_in_chromium.py runs the app
under it."""


def chromium_or_skip() -> str:
    return require_tool(CHROMIUM, "apt-get install chromium (.ci/run installs it)")


def _restartable_ports() -> range:
    """Below Linux's ephemeral range (32768 and up): while an app is stopped, no other test's
    server (``free_port``) nor any outgoing connection can be handed its port, so the origin it
    comes back at is its own. Each pytest-xdist worker takes a slice of its own, or two
    workers would both find the same port free and start their apps on it."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    width = (32_000 - 20_000) // max(workers, 1)
    return range(20_000 + worker * width, 20_000 + (worker + 1) * width)


RESTARTABLE_PORTS = _restartable_ports()
_next_port = iter(RESTARTABLE_PORTS)


def restartable_port() -> int:
    """A free port of :data:`RESTARTABLE_PORTS` not handed out before in this process."""
    for port in _next_port:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == errno.ECONNREFUSED:
                return port
    raise RuntimeError("no restartable port left")


@dataclass
class App:
    """One app process on a fixed port, so it can stop and come back at the same origin."""

    database_url: str
    folder: Path
    port: int
    settings: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    exiting: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.process = spawn_server(
            self.database_url, self.folder, self.folder / "app.log", self.port, self.settings
        )
        async with httpx.AsyncClient(base_url=self.base, timeout=1) as http:

            async def ready() -> bool:
                assert self.process is not None and self.process.poll() is None
                try:
                    return (await http.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_for(ready, "the app to start")

    def stop(self) -> None:
        """SIGTERM, as a deploy stops it; back once the server is gone, that is once its port
        refuses connections: Sanic's main process holds the listening socket and closes it
        only after its workers have exited. What the main process has left to do is waited
        for in ``reap``."""
        if self.process is not None:
            self.process.terminate()
            gone_or_killed(self.process, self.port)
            self.exiting.append(self.process)
            self.process = None

    def reap(self) -> None:
        """Wait for every process of this app that was stopped to exit."""
        for process in self.exiting:
            exited_or_killed(process)
        self.exiting.clear()


def refuses(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == errno.ECONNREFUSED


def gone_or_killed(process: subprocess.Popen[bytes], port: int) -> None:
    """Wait for a server sent SIGTERM to close its port (or exit). A signal that lands while
    Sanic is still starting its processes can leave its main process waiting forever, the
    port open (sanic-org/sanic#2997): then the whole process group is killed, as systemd
    would."""
    deadline = time.monotonic() + 15
    while process.poll() is None and not refuses(port):
        if time.monotonic() > deadline:
            kill(process)
            return
        time.sleep(0.02)


def exited_or_killed(process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        kill(process)


def kill(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


async def todays_jobs(
    world: World, locale: str = "th"
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    staff = await add_staff(world, locale=locale)
    nine = datetime.now(BANGKOK).replace(hour=9, minute=0, second=0, microsecond=0)
    jobs = await add_jobs(
        staff,
        2,
        start=nine.astimezone(UTC),
        step=timedelta(hours=3),
        customer_name="คุณวิไล ทดสอบ (Wilai)",
    )
    return staff, jobs


async def as_(http: httpx.AsyncClient, staff: dict[str, Any]) -> dict[str, str]:
    """Headers of a fresh session of ``staff`` (another device than the browser's)."""
    login = {"email": staff["email"], "password": TEST_PASSWORD, "device": {"id": "check"}}
    token = (await http.post("/api/mobile/auth/login", json=login)).json()["accessToken"]
    return {"Authorization": f"Bearer {token}"}


async def receipts_of(app: App, staff: dict[str, Any]) -> list[dict[str, Any]]:
    """What the server recorded of the person's offline changes."""
    async with httpx.AsyncClient(base_url=app.base) as http:
        answer = await http.get("/api/mobile/sync/receipts", headers=await as_(http, staff))
    receipts: list[dict[str, Any]] = answer.json()["receipts"]
    return receipts


async def fill_sign_in(page: Page, app: App, person: dict[str, Any]) -> None:
    """The app opened and its sign-in form filled in for ``person``, not yet sent."""
    await page.goto(app.base)
    await page.fill("input[name=email]", person["email"])
    await page.fill("input[name=password]", TEST_PASSWORD)


PIN = "246810"
"""The PIN every test's field phone sets for its offline vault."""


async def set_pin(page: Page, pin: str = PIN) -> None:
    await page.fill("#pin-set input[name=pin]", pin)
    await page.fill("#pin-set input[name=again]", pin)
    await page.click("#pin-set button")
    await page.wait_for_selector("#pin-set", state="detached")


async def unlock(page: Page, pin: str = PIN) -> None:
    """Open the vault with the PIN (a start with no signal)."""
    await page.fill("#pin-unlock input[name=pin]", pin)
    await page.click("#pin-unlock button")


async def past_first_run(page: Page) -> None:
    """Through what a field phone shows after signing in, before the day's jobs (or the job
    its address names): setting the vault's PIN (the first sign-in on this phone) and the
    privacy notice (once per version)."""
    for _ in range(3):
        await page.wait_for_selector("#pin-set, #privacy-notice, #out, h2[data-status]")
        if await page.locator("#pin-set").count():
            await set_pin(page)
        elif await page.locator("#privacy-notice").count():
            await page.click("#agree")
            await page.wait_for_selector("#privacy-notice", state="detached")
        else:
            return


async def sign_in(page: Page, app: App, staff: dict[str, Any]) -> None:
    await fill_sign_in(page, app, staff)
    await page.click("form button")
    await past_first_run(page)
    await page.wait_for_selector("ul.jobs li")


async def office_page(
    app: App, browser_context: BrowserContext, world: World
) -> tuple[Page, dict[str, Any]]:
    """A new dispatcher of the south branch (Noi, in English), and a page at the sign-in form
    filled in for them, not yet sent."""
    dispatcher = await add_user("dispatcher", world.south, None, "Noi", locale="en")
    page = await browser_context.new_page()
    await fill_sign_in(page, app, dispatcher)
    return page, dispatcher


async def controlled_page(
    context: BrowserContext, app: App, world: World
) -> tuple[Page, dict[str, Any], list[dict[str, Any]]]:
    """A new staff member with two jobs today, signed in, on a page the worker controls (so
    the job list is in its cache)."""
    staff, jobs = await todays_jobs(world)
    page = await context.new_page()
    await sign_in(page, app, staff)
    await page.evaluate("navigator.serviceWorker.ready")
    await page.reload()
    await page.wait_for_selector("ul.jobs li")
    return page, staff, jobs


async def step_offline(page: Page, app: App) -> None:
    """Open the first job, lose the server, tap its status step: the change waits."""
    await page.click("ul.jobs li a")
    await page.wait_for_selector("#step")
    app.stop()
    await page.click("#step")
    await page.wait_for_function("document.getElementById('net').textContent.includes('1')")


async def worker_registration(page: Page, app: App) -> tuple[CDPSession, dict[str, Any]]:
    """A DevTools session on ``page`` and the app's service worker registration
    (``origin``, ``registrationId``), for ``ServiceWorker.*`` commands. The session stays
    attached: detaching right after a push can take its notification away again."""
    cdp = await page.context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.extend(event["registrations"]),
    )
    await cdp.send("ServiceWorker.enable")
    for _ in range(50):
        ours = [
            r
            for r in registrations
            if r["scopeURL"].startswith(app.base) and not r.get("isDeleted")
        ]
        if ours:
            return cdp, {"origin": app.base, "registrationId": ours[-1]["registrationId"]}
        await page.wait_for_timeout(100)
    raise AssertionError(f"no service worker registered for {app.base}")
