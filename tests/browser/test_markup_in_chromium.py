"""What people typed (a customer's name, notes) shows as text, never as markup: the app builds
its screens with the escaping ``html`` template (cdn/src/html.js)."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.async_api import BrowserContext

from server.core.clock import BANGKOK
from tests.browser.app_helpers import App, sign_in
from tests.world import World, add_jobs, add_staff

TYPED = '<img src=x onerror="document.title=1">Wilai & "Co" <b>'


async def test_what_people_typed_shows_as_text(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    staff = await add_staff(world)
    nine = datetime.now(BANGKOK).replace(hour=9, minute=0, second=0, microsecond=0)
    await add_jobs(staff, 1, start=nine.astimezone(UTC), customer_name=TYPED)
    page = await browser_context.new_page()
    await sign_in(page, app_process, staff)
    assert TYPED in await page.inner_text("ul.jobs")
    await page.click("ul.jobs li a")
    await page.wait_for_selector("#step")
    assert await page.inner_text("main h2") == TYPED
    assert await page.locator("main img, main b").count() == 0
    assert await page.title() == "Tinedy Field"
