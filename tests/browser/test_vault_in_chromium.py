"""The offline vault in Chromium, read the way a thief with the phone would read it.

The phone's profile is copied after a day of work with no signal and every byte of it searched
for what the app knows (the customer's name, the job's gate code, the notes typed offline, a
photo shared from the gallery with the customer's place in it, the vault's key itself): none is
there. A fresh browser over the same profile, still with no signal, cannot queue a change
without the PIN, keeps nothing of a photo shared to it before the PIN, opens the kept day and
both shared photos only with it, and erases it all after five wrong PINs. Signing out wipes the
phone before it asks the server; one person's sealed changes are never sent under another's
session; a 429 is waited out and loses nothing. The job's photos the app shows never reach
the browser's HTTP cache, which would keep them on disk in the clear.
"""

from __future__ import annotations

import base64
import json
import shutil
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import BrowserContext, FilePayload, Page, Playwright, Request, Route

from server.auth import queries as device_queries
from server.auth import service as auth_service
from server.core.access import Principal, Role
from server.dispatch import service as dispatch_service
from server.dispatch.service import JobEdits
from server.pwa.translations import SCREENS
from tests.browser.app_helpers import (
    CHROMIUM,
    PHONE,
    App,
    controlled_page,
    past_first_run,
    receipts_of,
    sign_in,
    todays_jobs,
    unlock,
)
from tests.browser.test_app_in_chromium import DEVICE_ID, SEALED_DATA
from tests.browser.test_share_target_in_chromium import MARKED, MARKER, OPENED, share
from tests.photos.camera import camera_photo
from tests.servers import wait_for
from tests.world import TEST_PASSWORD, World, add_staff

GATE_CODE = "ประตูรหัส 4471# gate code 4471#"
REMARK = "Spare key under the blue pot 9923"

STORED = """async () => {
  const done = (r) => new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  const text = (value) => value instanceof Uint8Array || value instanceof ArrayBuffer
    ? new TextDecoder("latin1").decode(value) : JSON.stringify(value, (k, v) =>
      v instanceof Uint8Array ? new TextDecoder("latin1").decode(v) : v);
  const found = [];
  for (const { name } of await indexedDB.databases()) {
    const db = await done(indexedDB.open(name));
    for (const store of db.objectStoreNames) {
      const values = await done(db.transaction(store).objectStore(store).getAll());
      const keys = await done(db.transaction(store).objectStore(store).getAllKeys());
      values.forEach((value, i) => found.push({ store, key: String(keys[i]),
        type: Object.prototype.toString.call(value), text: text(value) }));
    }
    db.close();
  }
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) {
      const body = await (await cache.match(request)).arrayBuffer();
      found.push({ store: name, key: request.url, type: "cache", text: text(body) });
    }
  }
  return found;
}"""

RAW_KEY = """() => fetch("/api/mobile/auth/offline-key", { cache: "no-store" })
  .then((r) => r.json()).then((answer) => answer.key)"""

ENQUEUE_WITHOUT_KEY = """(text) => globalThis["tinedy-modules"]["outbox.js"]
  .enqueue({ mutationId: crypto.randomUUID(), kind: "remark", jobId: "x", text })
  .then(() => "queued", (error) => error.constructor.name)"""

NET = "document.getElementById('net').textContent"

WAITS_ASKED = """() => {
  const { delayOf } = globalThis["tinedy-modules"]["api.js"];
  const asked = (headers) => delayOf(new Response(null, { status: 429, headers }));
  return {
    seconds: asked({ "Retry-After": "3" }),
    date: asked({ "Retry-After": new Date(Date.now() + 60e3).toUTCString() }),
    rateLimit: asked({ RateLimit: '"sync";r=0;t=7' }),
    tooLong: asked({ "Retry-After": "86400" }),
    none: asked({}),
  };
}"""


def encodings(text: str) -> list[bytes]:
    """How a string can sit in a Chromium profile: UTF-8, UTF-16 (V8 and LevelDB), Latin-1."""
    found = [text.encode(), text.encode("utf-16-le")]
    if text.isascii():
        found.append(text.encode("latin-1"))
    return found


def readable_in(folder: Path, needles: dict[str, list[bytes]]) -> list[tuple[str, str]]:
    """Every (what, file) of the profile where one of the needles is found as it is."""
    hits = []
    for path in folder.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        data = path.read_bytes()
        hits += [
            (what, str(path)) for what, forms in needles.items() if any(f in data for f in forms)
        ]
    return hits


def key_forms(raw_b64: str) -> list[bytes]:
    raw = base64.urlsafe_b64decode(raw_b64 + "=" * (-len(raw_b64) % 4))
    return [raw, raw_b64.encode(), base64.b64encode(raw), base64.b64encode(raw).rstrip(b"=")]


async def a_day_offline(page: Page, app: App, jobs: list[dict[str, Any]]) -> None:
    """The first job opened, the signal lost, its step tapped, an item ticked, a remark
    written: three changes wait."""
    await page.goto(f"{app.base}/#job/{jobs[0]['id']}")
    await page.wait_for_selector("#step")
    assert GATE_CODE in await page.inner_text("main"), "the job's notes were shown online"
    app.stop()
    await page.click("#step")
    await page.wait_for_function(f"{NET}.includes('1')")
    await page.check("[data-item] >> nth=1")
    await page.wait_for_function(f"{NET}.includes('2')")
    await page.fill("#remark textarea", REMARK)
    await page.click("#remark button")
    await page.wait_for_function(f"{NET}.includes('3')")


async def test_a_copied_profile_holds_nothing_readable_and_opens_only_with_the_pin(
    app_process: App, playwright: Playwright, world: World, tmp_path: Path
) -> None:
    staff, jobs = await todays_jobs(world)
    office = Principal(
        world.dispatcher["id"], str(uuid.uuid4()), Role.DISPATCHER, world.south, None
    )
    await dispatch_service.edit_job(office, jobs[0]["id"], JobEdits(notes=GATE_CODE))
    profile = tmp_path / "profile"
    phone = await playwright.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, args=["--no-sandbox"], **PHONE
    )
    page = await phone.new_page()
    await sign_in(page, app_process, staff)
    await page.evaluate("navigator.serviceWorker.ready")
    await page.reload()
    await page.wait_for_selector("ul.jobs li")
    for _ in range(300):  # the day's details are fetched ahead, sealed, for a start offline
        kept = await page.evaluate(SEALED_DATA)
        if any(jobs[0]["id"] in entry["url"] for entry in kept):
            break
        await page.wait_for_timeout(100)
    raw_key = await page.evaluate(RAW_KEY)
    assert await share(page, f"{app_process.base}/share-target", 1, body=MARKED) == 200
    await page.wait_for_selector("#attach")
    await a_day_offline(page, app_process, jobs)
    await phone.close()

    copy = tmp_path / "copied"
    shutil.copytree(profile, copy, symlinks=True)
    needles = {
        "customer": [*encodings("Wilai"), *encodings("วิไล")],
        "gate code": [*encodings("4471#"), *encodings("ประตูรหัส")],
        "address": encodings("Khlong Toei"),
        "remark": encodings("blue pot 9923"),
        "shared photo": encodings(MARKER),
        "key": key_forms(raw_key),
    }
    assert readable_in(copy, needles) == []

    # The same profile in a fresh browser, still with no signal: the worker starts the app
    # from its precache, and it asks for the PIN.
    thief = await playwright.chromium.launch_persistent_context(
        str(copy), executable_path=CHROMIUM, args=["--no-sandbox"], **PHONE
    )
    try:
        page = await thief.new_page()
        await page.goto(app_process.base)
        await page.wait_for_selector("#pin-unlock")
        stored = await page.evaluate(STORED)
        assert {"meta", "outbox"} <= {entry["store"] for entry in stored}
        for entry in stored:
            assert "Wilai" not in entry["text"] and "4471" not in entry["text"], entry["store"]
            assert "9923" not in entry["text"] and entry["type"] != "[object CryptoKey]"
        outbox = [entry for entry in stored if entry["store"] == "outbox"]
        assert len(outbox) == 3
        assert await page.evaluate(ENQUEUE_WITHOUT_KEY, "in the clear?") == "Locked"
        assert len([e for e in await page.evaluate(STORED) if e["store"] == "outbox"]) == 3

        # A photo shared before the PIN: the worker has no key to seal it with, so nothing
        # of it is stored until the PIN is entered.
        locked_share = MARKED.replace(b"5531", b"7702")
        assert await share(page, f"{app_process.base}/share-target", 1, body=locked_share) == 200
        await page.wait_for_selector("#pin-unlock")
        assert all("7702" not in entry["text"] for entry in await page.evaluate(STORED))
        assert readable_in(copy, {"locked share": encodings(MARKER.replace("5531", "7702"))}) == []

        await unlock(page, "000000")
        await page.wait_for_function(
            "document.querySelector('#pin-unlock .err').textContent.includes('4')"
        )
        await unlock(page)
        await page.wait_for_selector("#attach")
        opened = sorted(photo["text"][-4:] for photo in await page.evaluate(OPENED))
        assert opened == ["5531", "7702"], "the PIN opens both shared photos"
        await page.evaluate("location.hash = ''")
        await page.wait_for_selector("ul.jobs li")
        assert "Wilai" in await page.inner_text("ul.jobs"), "the PIN opens the kept day"

        await page.reload()
        for _ in range(5):
            await page.wait_for_selector("#pin-unlock button:not([disabled])")
            await unlock(page, "135790")
        await page.wait_for_selector(f"text={SCREENS['th']['pinWiped']}")
        assert await page.evaluate(STORED) == [], "nothing kept: no database, no cached answer"
    finally:
        await thief.close()


THUMBNAIL_SHOWN = """() => { const img = document.querySelector(".photos img");
  return img && img.complete && img.naturalWidth > 0 && img.getAttribute("src"); }"""


def middle(body: bytes) -> list[bytes]:
    """A stretch of an image's compressed bytes, found only where the image itself is."""
    return [body[len(body) // 2 : len(body) // 2 + 48]]


@pytest.mark.photo_processing
async def test_a_jobs_photos_never_reach_the_http_cache(
    app_process: App, playwright: Playwright, world: World, tmp_path: Path
) -> None:
    staff, jobs = await todays_jobs(world)
    profile = tmp_path / "profile"
    phone = await playwright.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, args=["--no-sandbox"], **PHONE
    )
    try:
        page = await phone.new_page()
        await sign_in(page, app_process, staff)
        await page.evaluate("navigator.serviceWorker.ready")
        await page.goto(f"{app_process.base}/#job/{jobs[0]['id']}")
        await page.wait_for_selector("#step")
        photo = FilePayload(name="IMG_0002.jpg", mimeType="image/jpeg", buffer=camera_photo("JPEG"))
        await page.set_input_files("#photo", files=[photo])
        await page.wait_for_selector(".photos img", timeout=30_000)  # processed, heard live
        thumbnail = str(await (await page.wait_for_function(THUMBNAIL_SHOWN)).json_value())
        async with page.expect_popup() as opening:
            await page.click(".photos a")
        tab = await opening.value
        await tab.wait_for_load_state()
        assert (await tab.evaluate("document.contentType")).startswith("image/"), "shown in its tab"
        full = await page.get_attribute(".photos a", "href")
    finally:
        await phone.close()
    async with httpx.AsyncClient(base_url=app_process.base) as http:
        shown = (await http.get(thumbnail)).content
        opened = (await http.get(str(full))).content
    assert readable_in(profile, {"thumbnail": middle(shown), "photo": middle(opened)}) == []


async def test_signing_out_wipes_the_phone_before_asking_the_server(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    page, _, _ = await controlled_page(browser_context, app_process, world)
    assert await share(page, f"{app_process.base}/share-target", 1, body=MARKED) == 200
    await page.wait_for_selector("#attach")  # the share inbox is one of the caches
    await page.goto(app_process.base)
    await page.wait_for_selector("#out")
    seen: list[dict[str, Any]] = []

    async def logout(route: Route, request: Request) -> None:
        seen.append(
            await page.evaluate(
                "async () => ({ databases: (await indexedDB.databases()).map((d) => d.name),"
                " caches: await caches.keys() })"
            )
        )
        await route.abort("internetdisconnected")  # no Clear-Site-Data to help

    await page.route("**/api/mobile/auth/logout", logout)
    await page.click("#out")
    await page.wait_for_selector("#login")
    assert seen == [{"databases": [], "caches": []}]


async def test_one_persons_sealed_changes_are_never_sent_under_anothers_session(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    page, staff, _ = await controlled_page(browser_context, app_process, world)
    await page.click("ul.jobs li a")
    await page.wait_for_selector("#step")
    app_process.stop()
    await page.click("#step")
    await page.wait_for_function(f"{NET}.includes('1')")
    [waiting] = await page.evaluate("() => globalThis['tinedy-modules']['outbox.js'].waiting()")

    # The phone is taken from its owner and signed out by the office while it has no signal;
    # someone else signs in on it.
    client_id = await page.evaluate(DEVICE_ID)
    [device_id] = await device_queries.live_device_ids(staff["id"], client_id)
    await auth_service.revoke_session(device_id, staff["id"], "revoked")
    await app_process.start()
    await page.evaluate("window.dispatchEvent(new Event('online'))")
    await page.wait_for_selector("#login")
    sent: list[dict[str, Any]] = []
    page.on(
        "request",
        lambda r: sent.append(r.post_data_json or {}) if r.url.endswith("/sync") else None,
    )
    other = await add_staff(world)
    await page.fill("input[name=email]", other["email"])
    await page.fill("input[name=password]", TEST_PASSWORD)
    await page.click("form button")
    await past_first_run(page)
    await page.wait_for_function(f"{NET}.includes('1')")  # "1 locked until you sign in"
    await page.evaluate("window.dispatchEvent(new Event('online'))")
    await page.wait_for_timeout(500)
    mutation_ids = {u["mutationId"] for body in sent for u in body.get("pendingUpdates", [])}
    assert waiting["mutationId"] not in mutation_ids
    opened = await page.evaluate("() => globalThis['tinedy-modules']['outbox.js'].waiting()")
    assert opened == [{"mutationId": waiting["mutationId"], "sealedAway": True}]
    assert await receipts_of(app_process, other) == []
    assert await receipts_of(app_process, staff) == []


class RateLimited(BaseHTTPRequestHandler):
    """Answers the first sync 429 (Retry-After: 2, and the IETF RateLimit headers), then
    applies every mutation; answers anything else as the app's own server would not need."""

    server: Limiting

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        if self.path != "/api/mobile/sync":
            return self._answer(204, b"")
        self.server.batches.append((time.monotonic(), body))
        if len(self.server.batches) == 1:
            return self._answer(
                429,
                b"{}",
                {
                    "Retry-After": "2",
                    "RateLimit": '"sync";r=0;t=2',
                    "RateLimit-Policy": '"sync";q=60;w=60',
                },
            )
        ids = [u["mutationId"] for u in body["pendingUpdates"]]
        answer = {"synced": ids, "conflicts": [], "failed": [], "cursor": "0"}
        return self._answer(200, json.dumps(answer).encode())

    def do_GET(self) -> None:
        self._answer(503, b"")

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


class Limiting(ThreadingHTTPServer):
    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), RateLimited)
        self.batches: list[tuple[float, dict[str, Any]]] = []

    async def sent_again(self) -> bool:
        return len(self.batches) >= 2


async def test_a_429_is_waited_out_and_every_change_kept(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    page, _, _ = await controlled_page(browser_context, app_process, world)
    await page.click("ul.jobs li a")
    await page.wait_for_selector("#step")
    app_process.stop()
    limiting = Limiting(app_process.port)
    thread = threading.Thread(target=limiting.serve_forever, daemon=True)
    thread.start()
    try:
        await page.click("#step")
        await page.check("[data-item] >> nth=1")
        await wait_for(limiting.sent_again, "the changes to be sent again after the 429")
        (refused_at, refused), (again_at, again) = limiting.batches[:2]
        assert again_at - refused_at >= 1.9, "Retry-After was waited out"
        ids = [u["mutationId"] for u in refused["pendingUpdates"]]
        assert [u["mutationId"] for u in again["pendingUpdates"]][: len(ids)] == ids
        await page.wait_for_function("document.getElementById('net').hidden")
        sent = {
            u["mutationId"] for _, batch in limiting.batches[1:] for u in batch["pendingUpdates"]
        }
        assert len(sent) == 2, "both changes were sent, none dropped"
        waits = await page.evaluate(WAITS_ASKED)
        assert (waits["seconds"], waits["rateLimit"], waits["none"]) == (3000, 7000, 0)
        assert 58_000 <= waits["date"] <= 60_000 and waits["tooLong"] == 15 * 60_000
    finally:
        limiting.shutdown()
        limiting.server_close()
