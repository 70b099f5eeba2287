"""The share target in Chromium: photos shared by the phone (or posted by the app's own pages)
wait in the share inbox, sealed under the vault's key; a post from another site, too many files
or files that are not photos are refused, and nothing of them is kept. A share that comes while
the vault is locked (no key, no signal) is kept in memory only, and sealed once the PIN is
entered, or forgotten when the session is refused; an inbox entry the key cannot open is
deleted, and one an older build kept in the clear is deleted as soon as a new worker starts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from playwright.async_api import BrowserContext, Page, Route

from server.auth import queries as device_queries
from server.auth import service as auth_service
from server.pwa.vocabulary import CACHES, SHARE
from tests.browser.app_helpers import (
    App,
    controlled_page,
    past_first_run,
    restartable_port,
    unlock,
)
from tests.browser.test_app_in_chromium import DEVICE_ID
from tests.conftest import APP_SHELL
from tests.world import TEST_PASSWORD, World, add_staff

PHOTO = b"\xff\xd8\xff\xe0 a photo"
MARKER = "GPS 13.7221N 100.5602E home-of-Wilai 5531"
"""What a shared photo's EXIF can tell (where the customer lives), as bytes of the photo."""
MARKED = b"\xff\xd8\xff\xe1" + MARKER.encode()

SHARE_POST = """([action, count, type, bytes, name]) => {
  const form = Object.assign(document.createElement("form"),
    { action, method: "post", enctype: "multipart/form-data" });
  const input = Object.assign(document.createElement("input"),
    { type: "file", name: "file", multiple: true });
  const files = new DataTransfer();
  for (let n = 0; n < count; n++) {
    files.items.add(new File([new Uint8Array(bytes)], name.replace("#", n), { type }));
  }
  input.files = files.files;
  form.append(input);
  document.body.append(form);
  form.submit();
}"""

INBOX = f"""() => caches.open({CACHES["shareInbox"]!r}).then((inbox) => inbox.keys())
  .then((kept) => kept.length)"""

IN_THE_CLEAR = """async (marker) => {
  const found = [];
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) {
      const bytes = await (await cache.match(request)).arrayBuffer();
      const body = new TextDecoder("latin1").decode(bytes);
      const url = decodeURIComponent(request.url);
      if (url.includes(marker) || body.includes(marker)) found.push(name);
    }
  }
  return found;
}"""
"""The caches whose entries show ``marker`` as it is, in their address or their bytes."""

OPENED = """() => globalThis["tinedy-modules"]["inbox.js"].sharedPhotos().then((opened) =>
  Promise.all(opened.map(async ({ photo }) => ({ name: photo.name, type: photo.type,
    text: new TextDecoder("latin1").decode(await photo.arrayBuffer()) }))))"""
"""The inbox's photos as the app opens them."""

KEPT_IN_THE_CLEAR = f"""() => caches.open({CACHES["shareInbox"]!r}).then((inbox) =>
  inbox.put("/shared/0e4d/old.jpg",
    new Response("older build", {{ headers: {{ "Content-Type": "image/jpeg" }} }})))"""
"""An entry as the inbox kept it before it was sealed."""

CLEAR_AT_A_SEALED_ADDRESS = f"""() => caches.open({CACHES["shareInbox"]!r}).then((inbox) =>
  inbox.put("/shared/5f1c",
    new Response("older build", {{ headers: {{ "Content-Type": "image/jpeg" }} }})))"""
"""A photo in the clear where a sealed entry would be."""

INBOX_ADDRESSES = f"""() => caches.open({CACHES["shareInbox"]!r}).then((inbox) => inbox.keys())
  .then((kept) => kept.map((entry) => new URL(entry.url).pathname))"""

TRIED_WHILE_LOCKED = """() => {
  const { Locked } = globalThis["tinedy-modules"]["seal.js"];
  Promise.reject(new Locked());
}"""
"""A change tried while the vault is locked, which sends the app back to its start."""

A_NEW_WORKER = """async () => {
  await (await navigator.serviceWorker.getRegistration()).unregister();
}"""
"""The worker goes; the page's next load registers it again, which installs and activates anew,
as a new build's worker does."""


async def share(
    page: Page,
    action: str,
    count: int,
    kind: str = "image/jpeg",
    body: bytes = PHOTO,
    name: str = "photo-#.jpg",
) -> int:
    """Post ``count`` files to the share target from ``page``; the answer's status."""
    async with page.expect_navigation() as navigation:
        await page.evaluate(SHARE_POST, [action, count, kind, list(body), name])
    answer = await navigation.value
    return answer.status if answer else 0


async def test_only_our_own_shares_within_the_limits_reach_the_inbox(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    page, _, _ = await controlled_page(browser_context, app_process, world)
    target = f"{app_process.base}/share-target"

    assert await share(page, target, 2) == 200  # redirected to the app's #shared view
    await page.wait_for_selector("#attach")
    assert await page.evaluate(INBOX) == 2

    assert await share(page, target, SHARE["files"] + 1) == 403
    assert await share(page, target, 1, "text/html") == 403

    elsewhere = await browser_context.new_page()  # another site, with the default referrer policy
    await elsewhere.route(
        "http://elsewhere.test/",
        lambda route: route.fulfill(body="<p>hi</p>", content_type="text/html"),
    )
    await elsewhere.goto("http://elsewhere.test/")
    assert await share(elsewhere, target, 1) == 403
    await page.goto(app_process.base)
    await page.wait_for_selector("ul.jobs li")
    assert await page.evaluate(INBOX) == 2, "nothing refused was kept"


async def test_a_share_is_kept_sealed_and_opened_by_the_app(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    page, _, _ = await controlled_page(browser_context, app_process, world)
    target = f"{app_process.base}/share-target"

    assert await share(page, target, 1, body=MARKED, name=f"{MARKER}.jpg") == 200
    await page.wait_for_selector("#attach")
    assert await page.evaluate(IN_THE_CLEAR, MARKER) == [], "neither the photo nor its name"
    assert "(1)" in await page.inner_text("h2")
    [opened] = await page.evaluate(OPENED)
    assert (opened["name"], opened["type"]) == (f"{MARKER}.jpg", "image/jpeg")
    assert MARKER in opened["text"], "the app opens the photo as it was shared"

    await page.evaluate(KEPT_IN_THE_CLEAR)
    await page.reload()
    await page.wait_for_selector("#attach")
    assert "(1)" in await page.inner_text("h2"), "what the key cannot open is not offered"
    assert await page.evaluate(INBOX) == 1, "and is deleted"


async def test_a_share_while_locked_is_kept_in_memory_until_the_pin(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    page, _, _ = await controlled_page(browser_context, app_process, world)
    target = f"{app_process.base}/share-target"
    app_process.stop()  # no signal: the worker cannot fetch its key
    cdp = await browser_context.new_cdp_session(page)
    await cdp.send("ServiceWorker.enable")
    await cdp.send("ServiceWorker.stopAllWorkers")  # started afresh by the share: no key

    assert await share(page, target, 1, body=MARKED, name=f"{MARKER}.jpg") == 200
    await page.wait_for_selector("#pin-unlock")
    assert await page.evaluate(IN_THE_CLEAR, MARKER) == []
    assert await page.evaluate(INBOX) == 0, "nothing is stored before the key is"

    await unlock(page)
    await page.wait_for_selector("#attach")
    assert "(1)" in await page.inner_text("h2")
    [opened] = await page.evaluate(OPENED)
    assert MARKER in opened["text"]
    assert await page.evaluate(IN_THE_CLEAR, MARKER) == [], "sealed once the PIN opened the vault"


async def test_a_new_worker_deletes_what_older_builds_kept_in_the_clear(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    page, _, _ = await controlled_page(browser_context, app_process, world)
    assert await share(page, f"{app_process.base}/share-target", 1) == 200
    await page.wait_for_selector("#attach")
    [sealed] = await page.evaluate(INBOX_ADDRESSES)
    await page.evaluate(KEPT_IN_THE_CLEAR)
    await page.evaluate(CLEAR_AT_A_SEALED_ADDRESS)
    await page.goto(app_process.base)  # the job list: the #shared view is not opened again
    await page.wait_for_selector("ul.jobs li")
    assert await page.evaluate(INBOX) == 3

    await page.evaluate(A_NEW_WORKER)
    await page.reload()
    await page.wait_for_selector("ul.jobs li")
    await page.evaluate("navigator.serviceWorker.ready")
    await page.wait_for_function("navigator.serviceWorker.controller !== null")
    assert await page.evaluate(INBOX_ADDRESSES) == [sealed], "only the sealed share is left"


def older_worker_build(folder: Path) -> Path:
    """A copy of the app's build whose worker, as builds before the share inbox's, leaves
    ``GET /share-target`` to the network."""
    build = folder / "dist"
    shutil.copytree(APP_SHELL, build)
    manifest = json.loads((build / "asset-manifest.json").read_text())
    script = build / manifest["assets"]["worker.js"]["path"].removeprefix("/")
    answered = "  if (url.pathname === SHARE_PATH) {"
    assert answered in script.read_text()
    script.write_text(script.read_text().replace(answered, "  if (false) {"))
    for compressed in (".br", ".gz"):
        script.with_name(script.name + compressed).unlink()
    return build


async def test_the_pin_is_asked_when_the_ask_for_a_share_stalls(
    database_url: str,
    tmp_path: Path,
    app_settings: dict[str, str],
    browser_context: BrowserContext,
    world: World,
) -> None:
    settings = {**app_settings, "APP_SHELL_DIR": str(older_worker_build(tmp_path))}
    app = App(database_url, tmp_path, restartable_port(), settings)
    await app.start()
    try:
        page, _, _ = await controlled_page(browser_context, app, world)
        # The page asks the older worker for a share it holds: the ask goes to the network,
        # and stalls there; the key cannot be had (no signal).
        stalled: list[Route] = []

        async def stall(route: Route) -> None:
            stalled.append(route)  # never answered

        await page.route("**/share-target", stall)
        await page.route("**/api/mobile/auth/offline-key", lambda route: route.abort())
        await page.reload()
        await page.wait_for_selector("#pin-unlock", timeout=6000)
        assert stalled, "the page asked, and did not wait for the answer"
    finally:
        app.stop()
        app.reap()


async def test_a_share_held_for_a_refused_session_is_not_sealed_for_the_next_person(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    page, staff, _ = await controlled_page(browser_context, app_process, world)
    target = f"{app_process.base}/share-target"
    client_id = await page.evaluate(DEVICE_ID)
    app_process.stop()
    cdp = await browser_context.new_cdp_session(page)
    await cdp.send("ServiceWorker.enable")
    await cdp.send("ServiceWorker.stopAllWorkers")
    assert await share(page, target, 1, body=MARKED, name=f"{MARKER}.jpg") == 200
    await page.wait_for_selector("#pin-unlock")  # the page holds the share, unsealed

    # The office signs the phone out; when the signal comes back, the session is refused.
    [device_id] = await device_queries.live_device_ids(staff["id"], client_id)
    await auth_service.revoke_session(device_id, staff["id"], "revoked")
    await app_process.start()
    await page.evaluate(TRIED_WHILE_LOCKED)  # the app tries its key again: refused
    await page.wait_for_selector("#login")

    other = await add_staff(world)
    await page.evaluate("location.hash = ''")
    await page.fill("input[name=email]", other["email"])
    await page.fill("input[name=password]", TEST_PASSWORD)
    await page.click("form button")
    await past_first_run(page)
    await page.evaluate("location.hash = 'shared'")
    await page.wait_for_selector("#attach")
    assert "(0)" in await page.inner_text("h2"), "the share is not in the next person's inbox"
    assert await page.evaluate(INBOX) == 0
