"""Passwords in a real browser, for people whose accounts come from the office CRM: an invited
person opens the link the CRM got for them, sets a password and signs in with it (the link
then works no more); a forgotten password asks the office for a link and says so honestly;
a signed-in person changes their password, and a wrong current one is an error on the form,
not a lost session. The browser is a Thai phone: the texts checked are the Thai ones."""

from __future__ import annotations

import uuid

import httpx
from playwright.async_api import BrowserContext, Page

from server.integration.keys import create_api_key
from server.pwa.translations import SCREENS
from server.pwa.vocabulary import STORAGE
from tests.browser.app_helpers import SCREENSHOTS, App, as_, past_first_run, sign_in, todays_jobs
from tests.world import TEST_PASSWORD, World, add_staff

TEXT = SCREENS["th"]
NEW_PASSWORD = "ผ้าปูที่นอน clean 2026"


async def invited(app: App) -> tuple[str, str]:
    """A staff member the CRM has just created (no password yet) and the invite link the CRM
    got for them, as the office CRM does it through the integration API."""
    key = await create_api_key("browser tests", ["people:write"])
    ids = uuid.uuid4().hex[:10]
    email = f"invited-{ids}@test.local"
    staff = {
        "email": email,
        "name": "คุณสมชาย (Somchai)",
        "locale": "th",
        "role": "staff",
        "branchExternalId": f"branch-{ids}",
        "active": True,
    }
    headers = {"Authorization": f"Bearer {key.key}"}
    async with httpx.AsyncClient(base_url=f"{app.base}/api/integration/v1", headers=headers) as crm:
        branch = await crm.put(f"/branches/branch-{ids}", json={"name": "สาขาทดสอบ"})
        assert branch.status_code == 201, branch.text
        person = await crm.put(f"/staff/staff-{ids}", json=staff)
        assert person.status_code == 201, person.text
        invite = await crm.post(f"/staff/staff-{ids}/invite")
        assert invite.status_code == 201, invite.text
    link: str = invite.json()["inviteUrl"]
    return email, link


async def fill_passwords(page: Page, password: str, repeat: str) -> None:
    await page.fill("#password", password)
    await page.fill("#repeat", repeat)
    await page.click("#set-password button[type=submit]")


async def sign_in_as(page: Page, app: App, email: str, password: str) -> None:
    await page.goto(app.base)
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", password)
    await page.click("form button")
    await past_first_run(page)
    await page.wait_for_selector("#out")  # the list's footer: signed in


async def test_an_invited_person_sets_a_password_and_signs_in_with_it(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    email, link = await invited(app_process)
    assert link.startswith(f"{app_process.base}/set-password#token=")
    page = await browser_context.new_page()
    await page.goto(link)
    await page.wait_for_selector("#set-password")
    assert page.url == f"{app_process.base}/set-password", "the token left the address bar"

    await fill_passwords(page, "short", "short")
    assert await page.inner_text("#password-error") == TEXT["tooShort"]
    await fill_passwords(page, NEW_PASSWORD, NEW_PASSWORD + "!")
    assert await page.inner_text("#repeat-error") == TEXT["notSame"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "set-password-th.png"))
    assert await page.get_attribute("#repeat", "aria-invalid") == "true"
    await page.check("[data-reveal]")
    assert await page.get_attribute("#password", "type") == "text"
    await fill_passwords(page, NEW_PASSWORD, NEW_PASSWORD)
    await page.wait_for_selector(f"text={TEXT['passwordSet']}")

    await page.click(f"a:has-text('{TEXT['signIn']}')")
    await page.wait_for_selector("#login")
    await sign_in_as(page, app_process, email, NEW_PASSWORD)

    # Again, now that the service worker is installed and answers the link's page itself.
    await page.evaluate("navigator.serviceWorker.ready")
    again = await browser_context.new_page()
    await again.goto(link)
    await again.wait_for_selector("#set-password")
    assert await again.evaluate("Boolean(navigator.serviceWorker.controller)")
    await fill_passwords(again, NEW_PASSWORD, NEW_PASSWORD)
    await again.wait_for_selector(f"text={TEXT['linkSpent']}")


async def test_a_forgotten_password_asks_the_office_and_says_so_honestly(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    staff = await add_staff(world)
    page = await browser_context.new_page()
    await page.goto(app_process.base)
    await page.click("a[href='#forgot']")
    assert await page.get_attribute("#email", "autocomplete") == "email"
    await page.fill("#email", staff["email"])
    await page.click("#forgot button[type=submit]")
    await page.wait_for_selector(f"text={TEXT['forgotSent']}")

    await page.click(f"a:has-text('{TEXT['signIn']}')")
    await page.wait_for_selector("#login")
    await page.click("a[href='#forgot']")
    await page.fill("#email", "nobody-here@test.local")
    app_process.stop()  # no signal
    await page.click("#forgot button[type=submit]")
    await page.wait_for_selector(f"text={TEXT['noSignal']}")


async def test_a_signed_in_person_changes_their_password(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    staff, _ = await todays_jobs(world)
    async with httpx.AsyncClient(base_url=app_process.base) as http:
        other_device = await as_(http, staff)
    page = await browser_context.new_page()
    await sign_in(page, app_process, staff)
    await page.click("a[href='#password']")
    await page.wait_for_selector("#change-password")

    await page.fill("#currentPassword", "not my password")
    await page.fill("#newPassword", NEW_PASSWORD)
    await page.fill("#repeat", NEW_PASSWORD)
    await page.click("#change-password button[type=submit]")
    await page.wait_for_selector(f"text={TEXT['wrongPassword']}")
    await page.screenshot(path=str(SCREENSHOTS / "change-password-th.png"))
    signed_in = await page.evaluate("key => Boolean(localStorage.getItem(key))", STORAGE["user"])
    assert signed_in, "the wrong password did not sign the app out"
    await page.click(f"a:has-text('{TEXT['back']}')")
    await page.wait_for_selector("ul.jobs li")

    await page.click("a[href='#password']")
    await page.fill("#currentPassword", TEST_PASSWORD)
    await page.fill("#newPassword", NEW_PASSWORD)
    await page.fill("#repeat", NEW_PASSWORD)
    await page.click("#change-password button[type=submit]")
    await page.wait_for_selector(f"text={TEXT['passwordChanged']}")
    async with httpx.AsyncClient(base_url=app_process.base) as http:
        refused = await http.get("/api/mobile/jobs", headers=other_device)
    assert refused.status_code == 401, "the person's other devices are signed out"

    await page.click(f"a:has-text('{TEXT['back']}')")
    await page.click("#out")
    await page.wait_for_selector("#login")
    await sign_in_as(page, app_process, staff["email"], NEW_PASSWORD)
