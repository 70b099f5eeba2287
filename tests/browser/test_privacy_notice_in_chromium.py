"""The privacy notice in Chromium: shown to a cleaner at their first start, with the server's
retention days, in their language; not again once acknowledged (on this phone or another);
shown again when its text, and so its version, changed."""

from __future__ import annotations

from playwright.async_api import Browser, BrowserContext

from server.db.tables import PrivacyAcknowledgement
from server.privacy_notice.service import NOTICE_VERSION
from server.pwa.translations import NOTICE
from server.pwa.vocabulary import STORAGE
from tests.browser.app_helpers import PHONE, App, fill_sign_in, set_pin, todays_jobs
from tests.world import World

OLDER_VERSION = "2001-01-01"


async def acknowledged(user_id: str) -> list[str]:
    rows = await PrivacyAcknowledgement.select(PrivacyAcknowledgement.notice_version).where(
        PrivacyAcknowledgement.user_id == user_id
    )
    return sorted(row["notice_version"] for row in rows)


async def test_the_notice_is_shown_once_and_again_when_its_text_changed(
    app_process: App, browser: Browser, browser_context: BrowserContext, world: World
) -> None:
    staff, _ = await todays_jobs(world)
    page = await browser_context.new_page()
    await fill_sign_in(page, app_process, staff)
    await page.click("form button")
    await page.wait_for_selector("#pin-set")
    await set_pin(page)
    await page.wait_for_selector("#privacy-notice")
    shown = await page.inner_text("#privacy-notice")
    assert NOTICE["th"]["title"] in shown
    assert "90 วัน" in shown, "the server's LOCATION_RETENTION_DAYS, as it is"
    await page.click("#agree")
    await page.wait_for_selector("ul.jobs li")
    assert await acknowledged(staff["id"]) == [NOTICE_VERSION]

    await page.reload()
    await page.wait_for_selector("ul.jobs li")
    assert await page.locator("#privacy-notice").count() == 0

    other_phone = await browser.new_context(**PHONE)
    try:
        elsewhere = await other_phone.new_page()
        await fill_sign_in(elsewhere, app_process, staff)
        await elsewhere.click("form button")
        await set_pin(elsewhere)
        await elsewhere.wait_for_selector("ul.jobs li")  # the server knew it was read
    finally:
        await other_phone.close()

    # The notice's words change (a new version): the person read only the older one.
    await PrivacyAcknowledgement.update(
        {PrivacyAcknowledgement.notice_version: OLDER_VERSION}
    ).where(PrivacyAcknowledgement.user_id == staff["id"])
    key = f"{STORAGE['notice']}.{staff['id']}"
    await page.evaluate(
        "([key, version]) => localStorage.setItem(key, version)", [key, OLDER_VERSION]
    )
    await page.reload()
    await page.wait_for_selector("#privacy-notice")
    await page.click("#agree")
    await page.wait_for_selector("ul.jobs li")
    assert await acknowledged(staff["id"]) == [OLDER_VERSION, NOTICE_VERSION]
