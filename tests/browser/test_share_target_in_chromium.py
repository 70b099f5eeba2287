"""The share target in Chromium: photos shared by the phone (or posted by the app's own pages)
wait in the share inbox; a post from another site, too many files or files that are not
photos are refused, and nothing of them is kept."""

from __future__ import annotations

from playwright.async_api import BrowserContext, Page

from server.pwa.vocabulary import CACHES, SHARE
from tests.browser.app_helpers import App, controlled_page
from tests.world import World

SHARE_POST = """([action, count, type, bytes]) => {
  const form = Object.assign(document.createElement("form"),
    { action, method: "post", enctype: "multipart/form-data" });
  const input = Object.assign(document.createElement("input"),
    { type: "file", name: "file", multiple: true });
  const files = new DataTransfer();
  for (let n = 0; n < count; n++) {
    files.items.add(new File([new Uint8Array(bytes)], `photo-${n}.jpg`, { type }));
  }
  input.files = files.files;
  form.append(input);
  document.body.append(form);
  form.submit();
}"""

INBOX = f"""() => caches.open({CACHES["shareInbox"]!r}).then((inbox) => inbox.keys())
  .then((kept) => kept.length)"""


async def share(page: Page, action: str, count: int, kind: str = "image/jpeg") -> int:
    """Post ``count`` files to the share target from ``page``; the answer's status."""
    async with page.expect_navigation() as navigation:
        await page.evaluate(SHARE_POST, [action, count, kind, list(b"\xff\xd8\xff\xe0 a photo")])
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
