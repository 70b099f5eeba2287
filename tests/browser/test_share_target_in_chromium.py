"""The share target in Chromium: photos shared by the phone (or posted by the app's own pages)
wait in the share inbox, sealed under the vault's key; a post from another site, too many files
or files that are not photos are refused, and nothing of them is kept. A share that comes while
the vault is locked (no key, no signal) is kept in memory only, and sealed once the PIN is
entered; an inbox entry the key cannot open is deleted."""

from __future__ import annotations

from playwright.async_api import BrowserContext, Page

from server.pwa.vocabulary import CACHES, SHARE
from tests.browser.app_helpers import App, controlled_page, unlock
from tests.world import World

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
