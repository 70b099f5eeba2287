"""The installable app in a real browser (Playwright driving Debian's Chromium, headless):
the service worker installs and precaches, the manifest passes Chromium's installability
checks, and with the server gone the app still starts, shows today's jobs, and keeps a
change made offline until the server is back, which then applies it exactly once.

The server is really stopped to go offline (``context.set_offline`` does not cut a service
worker's own fetches in Chromium).
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import BrowserContext, FilePayload

from server.auth import queries as device_queries
from server.auth import service as auth_service
from server.core.access import Principal, Role
from server.dispatch import service as dispatch_service
from server.dispatch.service import JobEdits
from tests.browser.app_helpers import (
    SCREENSHOTS,
    App,
    as_,
    controlled_page,
    office_page,
    past_first_run,
    receipts_of,
    restartable_port,
    sign_in,
    step_offline,
    todays_jobs,
    unlock,
    worker_registration,
)
from tests.conftest import APP_SHELL
from tests.photos.camera import camera_photo
from tests.servers import wait_for
from tests.world import TEST_PASSWORD, World


async def test_the_worker_installs_precaches_and_the_app_is_installable(
    app_process: App, installable_context: BrowserContext, world: World
) -> None:
    staff, _ = await todays_jobs(world)
    page = await installable_context.new_page()
    await sign_in(page, app_process, staff)
    await page.evaluate("navigator.serviceWorker.ready")
    caches = await page.evaluate("caches.keys()")
    shell = next(name for name in caches if name.startswith("tinedy-shell-"))
    cached = await page.evaluate(
        "name => caches.open(name).then(c => c.keys())"
        ".then(k => k.map(r => new URL(r.url).pathname))",
        shell,
    )
    assert "/" in cached and any(path.startswith("/static/app.") for path in cached)
    cdp = await installable_context.new_cdp_session(page)
    manifest = await cdp.send("Page.getAppManifest")
    assert manifest["errors"] == [], manifest
    errors = await cdp.send("Page.getInstallabilityErrors")
    assert errors["installabilityErrors"] == [], errors
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "jobs-th.png"))


async def test_offline_the_app_starts_shows_todays_jobs_and_keeps_its_changes(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    page, staff, jobs = await controlled_page(browser_context, app_process, world)
    await page.click("ul.jobs li a")
    await page.wait_for_selector("#step")
    await page.screenshot(path=str(SCREENSHOTS / "job-th.png"))
    await page.goto(app_process.base)
    await page.wait_for_selector("ul.jobs li")

    app_process.stop()  # into the basement
    await page.reload()
    await unlock(page)  # with no signal, the PIN opens what the phone kept
    await page.wait_for_selector("ul.jobs li")
    assert "วิไล" in await page.inner_text("ul.jobs")
    await page.click("ul.jobs li a")
    await page.wait_for_selector("#step")
    await page.click("#step")
    await page.wait_for_function("document.getElementById('net').textContent.includes('1')")
    await page.wait_for_selector("h2[data-status=en_route]")  # the view shows the new step
    await page.check("[data-item] >> nth=1")
    await page.wait_for_function("document.getElementById('net').textContent.includes('2')")
    await page.check("[data-item] >> nth=2")
    await page.wait_for_function("document.getElementById('net').textContent.includes('3')")
    await page.uncheck("[data-item] >> nth=2")  # changed their mind: the last word counts
    await page.wait_for_function("document.getElementById('net').textContent.includes('4')")

    await app_process.start()  # signal again
    await page.evaluate("window.dispatchEvent(new Event('online'))")
    await page.wait_for_function("document.getElementById('net').hidden")
    await page.wait_for_selector("#notices li.ok")  # the answers are shown just after
    assert "✓ 4 ส่งแล้ว" in await page.inner_text("#notices")
    receipts = await receipts_of(app_process, staff)
    assert [r["outcome"] for r in receipts] == ["applied"] * 4, "each exactly once"
    assert {r["jobId"] for r in receipts} == {jobs[0]["id"]}
    async with httpx.AsyncClient(base_url=app_process.base) as http:
        detail = await http.get(f"/api/mobile/jobs/{jobs[0]['id']}", headers=await as_(http, staff))
    assert detail.json()["job"]["status"] == "en_route"
    assert [item["done"] for item in detail.json()["checklistItems"]] == [
        False,
        True,
        False,
        False,
    ]


# The server's count of the app's page served, from its metrics (any status).
SHELL_SERVED = re.compile(r'^tinedy_http_requests_total\{[^}]*route="/"[^}]*\} (\S+)$', re.M)


async def shell_pages_served(app: App) -> float:
    async with httpx.AsyncClient(base_url=app.base) as http:
        metrics = (await http.get("/metrics")).text
    return sum(float(count) for count in SHELL_SERVED.findall(metrics))


async def test_opening_the_app_again_shows_the_day_without_waiting_for_the_server(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    """The worker answers the app's page from its precache and the list from the kept day, so
    opening the app never waits on a round trip (seconds on 3G) before the jobs show."""
    await controlled_page(browser_context, app_process, world)
    served = await shell_pages_served(app_process)
    assert served >= 1, "the server served the page when the app was first opened"

    reopened = await browser_context.new_page()
    await reopened.goto(app_process.base)
    await reopened.wait_for_selector("ul.jobs li")
    assert "วิไล" in await reopened.inner_text("ul.jobs")
    assert await shell_pages_served(app_process) == served, "the page came from the worker"


SEALED_DATA = """async () => {
  const texts = [];
  for (const name of await caches.keys()) {
    if (name !== "tinedy-data") continue;
    const cache = await caches.open(name);
    for (const request of await cache.keys()) {
      const response = await cache.match(request);
      texts.push({ url: request.url, type: response.headers.get("Content-Type"),
                   body: new TextDecoder("latin1").decode(await response.arrayBuffer()) });
    }
  }
  return texts;
}"""

OUTBOX_RECORDS = """() => new Promise((resolve) => {
  const open = indexedDB.open("tinedy-vault");
  open.onsuccess = () => {
    const request = open.result.transaction("outbox").objectStore("outbox").getAll();
    request.onsuccess = () => resolve(request.result.map((record) => ({
      keys: Object.keys(record).sort(),
      bytes: record.sealed
        ? new TextDecoder("latin1").decode(record.sealed) : JSON.stringify(record),
    })));
  };
})"""

HAS_LOCK = """() => new Promise((resolve) => {
  const open = indexedDB.open("tinedy-vault");
  open.onsuccess = () => {
    const request = open.result.transaction("meta").objectStore("meta").get("lock");
    request.onsuccess = () => resolve(Boolean(request.result));
  };
})"""


DEVICE_ID = """() => new Promise((resolve) => {
  const open = indexedDB.open("tinedy-vault");
  open.onsuccess = () => {
    const request = open.result.transaction("meta").objectStore("meta").get("deviceId");
    request.onsuccess = () => resolve(request.result);
  };
})"""


async def test_the_offline_copy_is_sealed_and_a_revoked_phone_cannot_read_it(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    page, staff, jobs = await controlled_page(browser_context, app_process, world)
    for _ in range(300):  # the app fetches its jobs' details ahead, for a cold start offline
        kept = await page.evaluate(SEALED_DATA)
        if any(f"/api/mobile/jobs/{jobs[1]['id']}" in entry["url"] for entry in kept):
            break  # one by one: the second job's details come after the first's
        await page.wait_for_timeout(100)
    assert any(f"/api/mobile/jobs/{jobs[1]['id']}" in entry["url"] for entry in kept)
    for entry in kept:
        assert entry["type"] == "application/octet-stream"
        assert "Wilai" not in entry["body"] and jobs[0]["id"] not in entry["body"]

    await step_offline(page, app_process)
    [record] = await page.evaluate(OUTBOX_RECORDS)
    assert record["keys"] == ["mutationId", "sealed", "seq"]
    assert jobs[0]["id"] not in record["bytes"] and "en_route" not in record["bytes"]

    # The phone is reported lost: the office signs it out while it has no signal.
    client_id = await page.evaluate(DEVICE_ID)
    [device_id] = await device_queries.live_device_ids(staff["id"], client_id)
    await auth_service.revoke_session(device_id, staff["id"], "revoked")
    await app_process.start()
    await page.evaluate("window.dispatchEvent(new Event('online'))")
    await page.wait_for_selector("#login")
    for _ in range(200):  # bounded waits sized for a machine running two suites at once
        if not await page.evaluate(HAS_LOCK):
            break
        await page.wait_for_timeout(100)
    assert not await page.evaluate(HAS_LOCK), "the key (wrapped under the PIN) is forgotten"
    assert await page.evaluate(SEALED_DATA) == [], "the cached jobs are gone"
    assert len(await page.evaluate(OUTBOX_RECORDS)) == 1, "the change waits, sealed"
    assert await receipts_of(app_process, staff) == []

    # Its owner finds it and signs in again: the same key comes back and the change is sent.
    await page.fill("input[name=email]", staff["email"])
    await page.fill("input[name=password]", TEST_PASSWORD)
    await page.click("form button")
    await past_first_run(page)
    await page.wait_for_function("document.getElementById('net').hidden", timeout=30_000)
    assert [r["outcome"] for r in await receipts_of(app_process, staff)] == ["applied"]


async def test_signing_out_wipes_what_the_app_kept_offline(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    page, _, _ = await controlled_page(browser_context, app_process, world)
    assert await page.evaluate("caches.keys().then(k => k.length)") >= 1
    await page.click("#out")
    await page.wait_for_selector("#login")
    for _ in range(50):  # Clear-Site-Data is applied as the answer arrives
        if await page.evaluate("caches.keys().then(k => k.length)") == 0:
            break
        await page.wait_for_timeout(100)
    assert await page.evaluate("caches.keys().then(k => k.length)") == 0


class Unavailable(BaseHTTPRequestHandler):
    """Answers every request 503 (a deploy, an overloaded instance)."""

    server: Refusing

    def do_GET(self) -> None:
        self._refuse()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/api/mobile/sync":
            self.server.batches.append(json.loads(body))
        self._refuse()

    def _refuse(self) -> None:
        self.send_response(503)
        self.send_header("Retry-After", "1")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


class Refusing(ThreadingHTTPServer):
    """A server in the app's place that refuses everything and keeps the sync batches sent."""

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), Unavailable)
        self.batches: list[dict[str, Any]] = []

    async def refused_twice(self) -> bool:
        return len(self.batches) >= 2


async def test_a_503_while_sending_loses_nothing(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    page, staff, jobs = await controlled_page(browser_context, app_process, world)
    await page.click("ul.jobs li a")
    await page.wait_for_selector("#step")

    app_process.stop()
    refusing = Refusing(app_process.port)
    thread = threading.Thread(target=refusing.serve_forever, daemon=True)
    thread.start()
    try:
        await page.click("#step")
        await page.wait_for_function("document.getElementById('net').textContent.includes('1')")
        await page.evaluate("window.dispatchEvent(new Event('online'))")
        # One send at a time (a Web Lock): the second batch is read after the first's 503.
        await wait_for(refusing.refused_twice, "the change to be sent again after a 503")
        first, again = (
            [u["mutationId"] for u in b["pendingUpdates"]] for b in refusing.batches[:2]
        )
        assert len(first) == 1 and again == first, "the refused change stays and is sent again"
        assert "1" in await page.inner_text("#net")
    finally:
        refusing.shutdown()
        refusing.server_close()
    await app_process.start()
    await page.wait_for_function("document.getElementById('net').hidden", timeout=15_000)
    async with httpx.AsyncClient(base_url=app_process.base) as http:
        login = {"email": staff["email"], "password": TEST_PASSWORD, "device": {"id": "check"}}
        token = (await http.post("/api/mobile/auth/login", json=login)).json()["accessToken"]
        receipts = (
            await http.get(
                "/api/mobile/sync/receipts", headers={"Authorization": f"Bearer {token}"}
            )
        ).json()
    assert [r["outcome"] for r in receipts["receipts"]] == ["applied"]
    assert receipts["receipts"][0]["jobId"] == jobs[0]["id"]


async def test_a_new_build_replaces_the_worker_and_its_old_caches(
    database_url: str,
    tmp_path: Path,
    app_settings: dict[str, str],
    browser_context: BrowserContext,
    world: World,
) -> None:
    build_copy = tmp_path / "dist"
    shutil.copytree(APP_SHELL, build_copy)
    settings = {**app_settings, "APP_SHELL_DIR": str(build_copy)}
    app = App(database_url, tmp_path, restartable_port(), settings)
    await app.start()
    try:
        staff, _ = await todays_jobs(world)
        page = await browser_context.new_page()
        await sign_in(page, app, staff)
        await page.evaluate("navigator.serviceWorker.ready")
        old = await page.evaluate("caches.keys()")
        assert any(name.startswith("tinedy-shell-") for name in old)

        app.stop()  # deploy a new build
        manifest = json.loads((build_copy / "asset-manifest.json").read_text())
        manifest["version"] = "fedcba9876543210"
        (build_copy / "asset-manifest.json").write_text(json.dumps(manifest))
        await app.start()
        await page.evaluate("navigator.serviceWorker.getRegistration().then(r => r.update())")
        for _ in range(100):
            names = await page.evaluate("caches.keys()")
            if any("fedcba9876543210" in name for name in names) and not any(
                name in names for name in old if name.startswith("tinedy-shell-")
            ):
                break
            await page.wait_for_timeout(100)
        names = await page.evaluate("caches.keys()")
        assert any(name.startswith("tinedy-shell-fedcba9876543210") for name in names)
        old_shell = {name for name in old if name.startswith("tinedy-shell-")}
        assert not old_shell & set(names), "the old shell cache is gone after activation"
        assert set(old) - old_shell <= set(names), "the sealed job data outlives the deploy"
    finally:
        app.stop()
        app.reap()


async def test_the_worker_sends_waiting_changes_with_no_page_open(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    page, staff, jobs = await controlled_page(browser_context, app_process, world)
    await step_offline(page, app_process)
    await page.close()  # the person pockets the phone

    await app_process.start()
    blank = await browser_context.new_page()  # not the app: only a handle on the browser
    cdp, registration = await worker_registration(blank, app_process)
    # What Chromium does when the signal comes back, asked for now rather than in minutes.
    await cdp.send(
        "ServiceWorker.dispatchSyncEvent",
        registration | {"tag": "tinedy-outbox", "lastChance": False},
    )
    for _ in range(100):
        receipts = await receipts_of(app_process, staff)
        if receipts:
            break
        await blank.wait_for_timeout(100)
    assert [(r["outcome"], r["jobId"]) for r in receipts] == [("applied", jobs[0]["id"])]


async def test_the_app_speaks_english_to_an_english_speaker(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    staff, _ = await todays_jobs(world, locale="en")
    page = await browser_context.new_page()
    await sign_in(page, app_process, staff)
    assert await page.inner_text("main h2") == "Today's jobs"
    assert "Deep clean · Assigned" in await page.inner_text("ul.jobs")
    await page.screenshot(path=str(SCREENSHOTS / "jobs-en.png"))
    await page.click("ul.jobs li a")
    await page.wait_for_selector("#step")
    assert await page.inner_text("#step") == "On my way"
    await page.screenshot(path=str(SCREENSHOTS / "job-en.png"))


async def test_a_dispatcher_reprioritises_from_the_board(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    _, jobs = await todays_jobs(world)
    page, dispatcher = await office_page(app_process, browser_context, world)
    await page.click("form button")
    await page.wait_for_selector(f"select[data-job='{jobs[0]['id']}']")
    assert "Wilai" in await page.inner_text(".board section:nth-child(2)")  # Assigned

    await page.select_option(f"select[data-job='{jobs[0]['id']}']", "urgent")
    async with httpx.AsyncClient(base_url=app_process.base) as http:
        for _ in range(50):
            detail = await http.get(
                f"/api/mobile/jobs/{jobs[0]['id']}", headers=await as_(http, dispatcher)
            )
            if detail.json()["job"]["priority"] == "urgent":
                break
            await page.wait_for_timeout(100)
    assert detail.json()["job"]["priority"] == "urgent"
    await page.screenshot(path=str(SCREENSHOTS / "board-en.png"), full_page=True)


async def test_a_change_the_server_refuses_is_shown_with_its_reason(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    page, staff, jobs = await controlled_page(browser_context, app_process, world)
    await step_offline(page, app_process)
    # Meanwhile the office cancels the job.
    office = Principal(
        world.dispatcher["id"], str(uuid.uuid4()), Role.DISPATCHER, world.south, None
    )
    await dispatch_service.edit_job(office, jobs[0]["id"], JobEdits(status="cancelled"))

    await app_process.start()
    await page.evaluate("window.dispatchEvent(new Event('online'))")
    await page.wait_for_function("document.getElementById('net').hidden", timeout=15_000)
    await page.wait_for_selector("#notices li:not(.ok)")
    shown = await page.inner_text("#notices")
    [receipt] = await receipts_of(app_process, staff)
    assert receipt["outcome"] in ("rejected", "superseded")
    assert receipt["reason"] and receipt["reason"] in shown


@pytest.mark.photo_processing
async def test_a_photo_taken_offline_is_uploaded_attached_and_shown(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    page, staff, jobs = await controlled_page(browser_context, app_process, world)
    await page.click("ul.jobs li a")
    await page.wait_for_selector("#step")
    app_process.stop()
    photo = FilePayload(name="IMG_0001.jpg", mimeType="image/jpeg", buffer=camera_photo("JPEG"))
    await page.set_input_files("#photo", files=[photo])
    await page.wait_for_function("document.getElementById('net').textContent.includes('1')")

    await app_process.start()
    await page.evaluate("window.dispatchEvent(new Event('online'))")
    await page.wait_for_function("document.getElementById('net').hidden", timeout=15_000)
    await page.wait_for_selector(".photos img", timeout=30_000)  # processed, heard live
    thumb = await page.evaluate(
        "fetch(document.querySelector('.photos img').src).then(r => r.headers.get('content-type'))"
    )
    assert thumb == "image/webp"
    receipts = await receipts_of(app_process, staff)
    assert [(r["kind"], r["outcome"]) for r in receipts] == [("photo", "applied")]
    async with httpx.AsyncClient(base_url=app_process.base) as http:
        detail = await http.get(f"/api/mobile/jobs/{jobs[0]['id']}", headers=await as_(http, staff))
    [shown] = detail.json()["photos"]
    assert (shown["kind"], shown["status"]) == ("before", "ready")
