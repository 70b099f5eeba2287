"""The dispatch board in Chromium, on a laptop and on a phone, in Thai and English: a job the
board creates shows at once with its crew's names; a crew reassigned is the server's; a job
created elsewhere (another dispatcher, the CRM) shows on a board already open, with no
reload; another day is picked; a problem from the field puts its job on hold with an alert
to acknowledge; a job on hold resumes and a completed one reopens. Each test but the first
has a branch of its own, so its board shows only what the test made (the shared database
holds other tests' jobs and the late starts they raise)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page

from server.core.clock import BANGKOK
from server.db.engine import write_transaction
from server.integration.keys import create_api_key
from server.people import queries as people_queries
from tests.browser.app_helpers import (
    PHONE,
    SCREENSHOTS,
    App,
    as_,
    fill_sign_in,
    office_page,
    todays_jobs,
)
from tests.browser.conftest import APP_SETTINGS, AppSupply
from tests.world import World, add_jobs, add_user

SETTLED = """async () => {
  const registration = await navigator.serviceWorker.ready;
  await registration.update(); // the office's worker replaces the visitor's one
  const pause = () => new Promise((resolve) => setTimeout(resolve, 50));
  while (registration.installing || registration.waiting
         || navigator.serviceWorker.controller !== registration.active) await pause();
  const app = document.getElementById("app");
  await new Promise((resolve) => {
    let quiet = setTimeout(resolve, 500);
    new MutationObserver(() => {
      clearTimeout(quiet);
      quiet = setTimeout(resolve, 500);
    }).observe(app, { childList: true, subtree: true });
  });
}"""
"""Until the office's service worker controls the page and the board has not been redrawn for
half a second: a worker taking control redraws the board, which must not pass for a live
event's doing."""

LAPTOP: dict[str, Any] = {**PHONE, "viewport": {"width": 1280, "height": 800}, "locale": "en-GB"}
NAMES = ("สมชาย ใจดี", "Suda Srisuk", "วิภา ทองดี", "Anan Boonmee")


@dataclass
class Branch:
    """A branch of the test's own: its team's field staff (``NAMES``) and a dispatcher."""

    id: str
    team: str
    dispatcher: dict[str, Any]
    staff: list[dict[str, Any]]

    def ids(self, *people: int) -> list[str]:
        return [self.staff[n]["id"] for n in people]


async def new_branch(locale: str = "en") -> Branch:
    branch, team = str(uuid.uuid4()), str(uuid.uuid4())
    async with write_transaction():
        await people_queries.insert_branches([{"id": branch, "name": "สาขาสุขุมวิท"}])
        await people_queries.insert_teams([{"id": team, "name": "Sukhumvit A", "branch": branch}])
    dispatcher = await add_user("dispatcher", branch, None, "Noi", locale=locale)
    staff = [await add_user("staff", branch, team, name) for name in NAMES]
    return Branch(branch, team, dispatcher, staff)


def today_at(hour: int, minute: int = 0, days: int = 0) -> datetime:
    local = datetime.now(BANGKOK) + timedelta(days=days)
    return local.replace(hour=hour, minute=minute, second=0, microsecond=0).astimezone(UTC)


def day_of(days: int) -> str:
    return (datetime.now(BANGKOK) + timedelta(days=days)).date().isoformat()


async def job_at(
    branch: Branch, crew: list[int], at: datetime, customer: str, status: str = "assigned"
) -> dict[str, Any]:
    """One job of ``branch`` for a customer of its own, its crew the first of ``crew``."""
    lead = branch.staff[crew[0]] if crew else None
    (job,) = await add_jobs(
        lead, 1, status=status, branch=branch.id, start=at, customer_name=customer
    )
    return job


@pytest.fixture
async def alerting_app(app_supply: AppSupply) -> AsyncIterator[App]:
    """An app whose alert planner runs (test apps run without one), for this test only."""
    app = app_supply.new({**APP_SETTINGS, "ALERT_PLANNING": "true"})
    await app.start()
    try:
        yield app
    finally:
        app_supply.retire(app)


@pytest.fixture
async def laptop(browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(**LAPTOP)
    try:
        yield context
    finally:
        await context.close()


async def open_board(context: BrowserContext, app: App, dispatcher: dict[str, Any]) -> Page:
    """The dispatcher signed in on a new page of ``context``, the board drawn and settled,
    its live stream open."""
    page = await context.new_page()
    await fill_sign_in(page, app, dispatcher)
    async with page.expect_response(lambda r: "/api/mobile/live-updates" in r.url):
        await page.click("form button")
    await page.wait_for_selector(".dispatch .board section")
    await page.evaluate(SETTLED)
    return page


async def server_job(app: App, person: dict[str, Any], job_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=app.base) as http:
        answer = await http.get(f"/api/mobile/jobs/{job_id}", headers=await as_(http, person))
    assert answer.status_code == 200, answer.text
    detail: dict[str, Any] = answer.json()
    return detail


async def eventually(
    page: Page, app: App, person: dict[str, Any], job_id: str, **want: Any
) -> None:
    """Until the server's job has the ``want``ed fields (the board's write is on its way)."""
    for _ in range(50):
        job = (await server_job(app, person, job_id))["job"]
        if all(job.get(key) == value for key, value in want.items()):
            return
        await page.wait_for_timeout(100)
    raise AssertionError(f"the job has {job}, not {want}")


def card(page: Page, status: str, job_id: str) -> Any:
    return page.locator(f".board [data-column={status}] [data-card='{job_id}']")


async def shoot(page: Page, name: str, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / name), full_page=full_page)


async def test_a_job_created_shows_on_an_open_board_without_a_reload(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    _, jobs = await todays_jobs(world)
    page, dispatcher = await office_page(app_process, browser_context, world)
    async with page.expect_response(lambda r: "/api/mobile/live-updates" in r.url):
        await page.click("form button")
    await page.wait_for_selector(f"select[data-job='{jobs[0]['id']}']")
    await page.evaluate(SETTLED)
    assert "Window wash" not in await page.inner_text(".board")

    three = datetime.now(BANGKOK).replace(hour=15, minute=0, second=0, microsecond=0)
    new_job = {
        "customerId": jobs[0]["customer"],
        "serviceType": "Window wash",
        "scheduledDate": three.isoformat(),
    }
    async with httpx.AsyncClient(base_url=app_process.base) as http:
        created = await http.post(
            "/api/dispatch/jobs", json=new_job, headers=await as_(http, dispatcher)
        )
    assert created.status_code == 201, created.text
    job_id = created.json()["job"]["id"]
    pending = page.locator(".board section:nth-child(1)")  # Pending
    await pending.locator(f"select[data-job='{job_id}']").wait_for(timeout=10_000)
    assert "Window wash" in await pending.inner_text()


async def test_the_board_creates_a_job_with_its_crew_and_shows_it_at_once(
    app_process: App, laptop: BrowserContext, world: World
) -> None:
    branch = await new_branch()
    known = await job_at(branch, [0], today_at(8), "Wilai Chaiyo")
    page = await open_board(laptop, app_process, branch.dispatcher)
    await page.click("#new-job")
    form = page.locator("#panel")
    await form.get_by_label("Find the customer by name").fill("wilai")
    customer = form.get_by_label("Customer", exact=True)
    await customer.locator(f"option[value='{known['customer']}']").wait_for()
    await customer.select_option(known["customer"])
    await form.get_by_label("Service").fill("Aircon service")
    await form.get_by_label("Time").fill("14:30")
    await form.get_by_label("Duration (minutes)").fill("90")
    await form.get_by_label("Priority").select_option("high")
    await form.get_by_label("Notes for the crew").fill("Gate code 4321")
    await form.get_by_label("Checklist (one item a line)").fill("Filters\n\nCoils\n")
    await form.get_by_label(NAMES[1], exact=True).check()
    await form.get_by_label(NAMES[2], exact=True).check()
    await form.get_by_label(f"Lead: {NAMES[2]}").check()
    await page.get_by_role("button", name="Create the job").click()

    created = page.locator(".board [data-column=assigned] .card", has_text="Aircon service")
    await created.wait_for()
    crew_line = await created.locator(".crew").inner_text()
    assert crew_line == f"{NAMES[2]}, {NAMES[1]}"  # lead first
    job_id = await created.get_attribute("data-card")
    assert job_id is not None
    await page.locator("#panel h3", has_text="Wilai Chaiyo").wait_for()  # the new job's detail
    detail = await server_job(app_process, branch.dispatcher, job_id)
    job = detail["job"]
    assert job["assigneeIds"] == branch.ids(2, 1)
    assert job["scheduledDate"] == f"{day_of(0)}T14:30:00+07:00"
    assert (job["durationMinutes"], job["priority"]) == (90, "high")
    assert job["notes"] == "Gate code 4321"
    assert [item["label"] for item in detail["checklistItems"]] == ["Filters", "Coils"]

    await page.keyboard.press("Escape")  # the panel closes from the keyboard
    assert await page.locator("#panel").is_hidden()


async def test_a_job_is_created_from_the_keyboard(
    app_process: App, laptop: BrowserContext, world: World
) -> None:
    branch = await new_branch()
    known = await job_at(branch, [0], today_at(8), "Wilai Chaiyo")
    page = await open_board(laptop, app_process, branch.dispatcher)
    await page.focus("#new-job")
    await page.keyboard.press("Enter")
    await page.wait_for_function("document.activeElement.id === 'nj-find'")  # the first field
    await page.keyboard.type("Wilai")
    await page.locator(f"#nj-customer option[value='{known['customer']}']").wait_for()
    await page.keyboard.press("Tab")
    await page.keyboard.press("ArrowDown")  # the first customer found
    await page.keyboard.press("Tab")
    await page.keyboard.type("Aircon")
    await page.focus(f"input[name=member][value='{branch.staff[3]['id']}']")
    await page.keyboard.press("Space")
    await page.focus("#nj-service")
    await page.keyboard.press("Enter")  # Enter in a field sends the form

    created = page.locator(".board [data-column=assigned] .card", has_text="Aircon")
    await created.wait_for()
    assert await created.locator(".crew").inner_text() == NAMES[3]
    await page.keyboard.press("Escape")
    assert await page.evaluate("document.activeElement.id") == "new-job"  # back where it was


async def test_the_new_job_form_says_what_is_wrong(
    app_process: App, laptop: BrowserContext, world: World
) -> None:
    branch = await new_branch()
    branch.staff += [
        await add_user("staff", branch.id, branch.team, f"Extra {n}") for n in range(5)
    ]
    known = await job_at(branch, [0], today_at(8), "Wilai Chaiyo")
    page = await open_board(laptop, app_process, branch.dispatcher)
    await page.click("#new-job")
    create = page.get_by_role("button", name="Create the job")
    await create.click()
    assert await page.evaluate("document.activeElement.id") == "nj-customer"  # none picked
    assert await page.get_attribute("#nj-customer", "aria-invalid") == "true"

    await page.locator(f"#nj-customer option[value='{known['customer']}']").wait_for()
    await page.select_option("#nj-customer", known["customer"])
    await page.fill("#nj-service", "Deep clean")
    for box in await page.locator("input[name=member]").all():  # nine people
        await box.check()
    await create.click()
    assert await page.inner_text("#form-error") == "A crew has at most 8 people"

    await page.get_by_label("Extra 0", exact=True).uncheck()
    await page.fill("#nj-date", "1899-12-31")  # the browser takes it, the server does not
    await create.click()
    await page.wait_for_function(
        "document.getElementById('form-error').textContent.includes('1900')"
    )
    assert await page.locator("#panel").is_visible()


async def test_the_board_reassigns_a_jobs_crew(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    branch = await new_branch(locale="th")
    job = await job_at(branch, [0], today_at(10), "คุณวิไล ทดสอบ")
    page = await open_board(browser_context, app_process, branch.dispatcher)
    assert await card(page, "assigned", job["id"]).locator(".crew").inner_text() == NAMES[0]
    await page.click(f"[data-open='{job['id']}']")
    await page.click("[data-action=crew]")
    await page.get_by_label(NAMES[0], exact=True).uncheck()
    await page.get_by_label(NAMES[1], exact=True).check()
    await page.get_by_label(f"หัวหน้าทีม: {NAMES[3]}").check()  # marking the lead ticks them
    await page.click("#crew-form button:not([type])")

    names = card(page, "assigned", job["id"]).locator(".crew")
    await names.filter(has_text=NAMES[3]).wait_for()
    assert await names.inner_text() == f"{NAMES[3]}, {NAMES[1]}"
    await eventually(page, app_process, branch.dispatcher, job["id"], assigneeIds=branch.ids(3, 1))
    assert NAMES[0] not in await page.inner_text("#panel")
    await page.get_by_role(
        "button", name="ปิด", exact=True
    ).click()  # the phone's panel covers the board
    assert await page.locator("#panel").is_hidden()


async def test_a_job_the_crm_books_shows_with_its_crew_on_an_open_board(
    app_process: App, laptop: BrowserContext, world: World
) -> None:
    key = {"Authorization": f"Bearer {(await create_api_key('crm', ['all'])).key}"}
    crm = "/api/integration/v1"
    place = f"bkk-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=app_process.base, headers=key) as http:
        branch = (await http.put(f"{crm}/branches/{place}", json={"name": "สาขาสาทร"})).json()
        for n, name in enumerate(NAMES[:2]):
            person = {
                "email": f"{place}-{n}@test.local",
                "name": name,
                "locale": "th",
                "role": "staff",
                "branchExternalId": place,
                "active": True,
            }
            answer = await http.put(f"{crm}/staff/{place}-{n}", json=person)
            assert answer.status_code == 201, answer.text
        customer = {
            "name": "Khun Ploy",
            "address": "1 Sathorn Road",
            "location": {"lat": 13.72, "lng": 100.53},
            "branchExternalId": place,
        }
        assert (await http.put(f"{crm}/customers/{place}-c", json=customer)).status_code == 201
        dispatcher = await add_user("dispatcher", branch["branch"]["id"], None, "Noi", "en")
        page = await open_board(laptop, app_process, dispatcher)

        booking = {
            "customerExternalId": f"{place}-c",
            "serviceType": "Sofa shampoo",
            "scheduledDate": today_at(16).isoformat(),
            "assigneeExternalIds": [f"{place}-1", f"{place}-0"],
        }
        answer = await http.put(f"{crm}/jobs/{place}-j", json=booking)
        assert answer.status_code == 201, answer.text
    booked = page.locator(".board [data-column=assigned] .card", has_text="Sofa shampoo")
    await booked.wait_for(timeout=10_000)
    assert await booked.locator(".crew").inner_text() == f"{NAMES[1]}, {NAMES[0]}"


async def test_the_board_shows_the_day_picked(
    app_process: App, laptop: BrowserContext, world: World
) -> None:
    branch = await new_branch()
    await job_at(branch, [0], today_at(9), "Today Customer")
    await job_at(branch, [1], today_at(9, days=1), "Tomorrow Customer")
    await job_at(branch, [2], today_at(9, days=3), "Later Customer")
    page = await open_board(laptop, app_process, branch.dispatcher)
    board = page.locator(".board")
    assert "Today Customer" in await board.inner_text()

    await page.get_by_role("button", name="Next day").click()
    await board.filter(has_text="Tomorrow Customer").wait_for()
    assert "Today Customer" not in await board.inner_text()
    assert page.url.endswith(f"#board/{day_of(1)}")
    assert await page.input_value("#day") == day_of(1)

    await page.fill("#day", day_of(3))  # typed into the date field
    await board.filter(has_text="Later Customer").wait_for()
    await page.get_by_role("button", name="Previous day").click()
    await page.wait_for_function(f"location.hash.endsWith('{day_of(2)}')")
    await page.evaluate(SETTLED)
    assert "Customer" not in await board.inner_text()
    await page.get_by_role("button", name="Back to today").click()
    await board.filter(has_text="Today Customer").wait_for()

    await page.click("#lang")  # Thai on this device: the whole board, the same day
    await page.locator("h2", has_text="กระดานจ่ายงาน").wait_for()
    assert "Today Customer" in await board.inner_text()
    assert await page.get_attribute("#next-day", "aria-label") == "วันถัดไป"


async def test_a_problem_puts_its_job_on_hold_with_an_alert_to_acknowledge(
    alerting_app: App, browser_context: BrowserContext, world: World
) -> None:
    branch = await new_branch(locale="th")
    job = await job_at(branch, [0], today_at(23, 30), "คุณวิไล ทดสอบ")
    page = await open_board(browser_context, alerting_app, branch.dispatcher)
    async with httpx.AsyncClient(base_url=alerting_app.base) as http:
        report = {"mutationId": str(uuid.uuid4()), "reason": "customer_absent", "note": "กดกริ่งแล้ว"}
        answer = await http.post(
            f"/api/mobile/jobs/{job['id']}/issues",
            json=report,
            headers=await as_(http, branch.staff[0]),
        )
    assert answer.status_code == 201, answer.text

    held = card(page, "on_hold", job["id"])
    await held.wait_for(timeout=10_000)
    assert "ลูกค้าไม่อยู่ · กดกริ่งแล้ว" in await held.locator(".problem").inner_text()
    alert = page.locator(".board-alert[data-kind=issue_reported]")
    await alert.wait_for(timeout=15_000)
    text = await alert.inner_text()
    assert "ทีมแจ้งปัญหา" in text and "คุณวิไล ทดสอบ" in text and NAMES[0] in text

    await alert.get_by_role("button", name="รับทราบ").click()
    await alert.wait_for(state="detached")
    async with httpx.AsyncClient(base_url=alerting_app.base) as http:
        listed = await http.get(
            "/api/dispatch/alerts?state=open", headers=await as_(http, branch.dispatcher)
        )
    assert [a for a in listed.json()["alerts"] if a["kind"] == "issue_reported"] == []

    await page.click(f"[data-open='{job['id']}']")
    assert "ลูกค้าไม่อยู่" in await page.inner_text("#panel .problems")
    await page.click("[data-action=resume]")
    await card(page, "assigned", job["id"]).wait_for()
    await eventually(page, alerting_app, branch.dispatcher, job["id"], status="assigned")


async def test_a_completed_job_reopens_and_a_job_is_cancelled_on_a_second_press(
    app_process: App, laptop: BrowserContext, world: World
) -> None:
    branch = await new_branch()
    done = await job_at(branch, [1], today_at(8), "Done Customer", status="completed")
    doomed = await job_at(branch, [], today_at(12), "Doomed Customer", status="pending")
    page = await open_board(laptop, app_process, branch.dispatcher)
    await page.click(f"[data-open='{done['id']}']")
    await page.click("[data-action=reopen]")
    await page.get_by_label("Why is it reopened?").fill("The customer found a stain")
    await page.get_by_role("button", name="Reopen").click()
    await card(page, "in_progress", done["id"]).wait_for()
    await eventually(page, app_process, branch.dispatcher, done["id"], status="in_progress")

    await page.click(f"[data-open='{doomed['id']}']")
    await page.locator("#panel h3", has_text="Doomed Customer").wait_for()
    await page.click("[data-action=cancel]")
    assert await page.inner_text("[data-action=cancel]") == "Press again to cancel the job"
    await page.click("[data-action=cancel]")
    await page.locator(f"[data-card='{doomed['id']}']").wait_for(state="detached")
    await eventually(page, app_process, branch.dispatcher, doomed["id"], status="cancelled")


async def a_busy_day(app: App) -> Branch:
    """A branch's day with a job in every column, crews of one and two, a problem reported,
    a remark, and a check-in far from the address: the board the screenshots show."""
    branch = await new_branch()
    jobs = {
        "completed": await job_at(branch, [2], today_at(8), "คุณสมศรี มีสุข", "completed"),
        "in_progress": await job_at(branch, [0], today_at(9), "Khun Ploy", "in_progress"),
        "en_route": await job_at(branch, [3], today_at(10, 30), "คุณวิไล ทดสอบ", "en_route"),
        "on_hold": await job_at(branch, [1], today_at(11), "Mr. Tanaka"),
        "assigned": await job_at(branch, [2], today_at(13), "คุณมาลี ศรีสุข"),
        "pending": await job_at(branch, [], today_at(15), "Khun Nok", "pending"),
    }
    async with httpx.AsyncClient(base_url=app.base) as http:
        office = await as_(http, branch.dispatcher)
        for status, crew in (("in_progress", [0, 3]), ("assigned", [2, 1])):
            crewed = await http.post(
                f"/api/dispatch/jobs/{jobs[status]['id']}/assign",
                json={"assigneeIds": branch.ids(*crew)},
                headers=office,
            )
            assert crewed.status_code == 200, crewed.text
        await http.patch(
            f"/api/dispatch/jobs/{jobs['assigned']['id']}",
            json={"priority": "urgent"},
            headers=office,
        )
        field = await as_(http, branch.staff[1])
        report = {
            "mutationId": str(uuid.uuid4()),
            "reason": "customer_absent",
            "note": "กดกริ่งแล้ว ไม่มีคนอยู่",
        }
        held = await http.post(
            f"/api/mobile/jobs/{jobs['on_hold']['id']}/issues", json=report, headers=field
        )
        assert held.status_code == 201, held.text
        remark = {
            "mutationId": str(uuid.uuid4()),
            "jobId": jobs["on_hold"]["id"],
            "text": "รอที่ล็อบบี้ 15 นาที",
        }
        synced = await http.post(
            "/api/mobile/sync", json={"deviceId": "check", "remarks": [remark]}, headers=field
        )
        assert synced.status_code == 200, synced.text
        far = {
            "type": "in",
            "location": {"lat": 13.7563, "lng": 100.5018},
            "accuracy": 12.0,
            "timestamp": datetime.now(UTC).isoformat(),
        }
        checked = await http.post(
            f"/api/mobile/jobs/{jobs['in_progress']['id']}/checkin",
            json=far,
            headers=await as_(http, branch.staff[3]),
        )
        assert checked.status_code in (200, 201), checked.text
        for _ in range(100):  # the alert planner raises them in the app's process
            listed = (await http.get("/api/dispatch/alerts?state=open", headers=office)).json()
            if {"issue_reported", "offsite_checkin"} <= {a["kind"] for a in listed["alerts"]}:
                break
            await asyncio.sleep(0.1)
    return branch


async def test_screenshots_of_the_board_on_a_laptop_and_a_phone_in_both_languages(
    alerting_app: App, browser: Browser, world: World
) -> None:
    """docs/screenshots/board-*.png are these (copied by hand when the board changes)."""
    branch = await a_busy_day(alerting_app)
    thai = await add_user("dispatcher", branch.id, None, "น้อย", locale="th")
    for form, options in (("laptop", LAPTOP), ("phone", PHONE)):
        for locale, dispatcher in (("en", branch.dispatcher), ("th", thai)):
            context = await browser.new_context(**options)
            try:
                page = await open_board(context, alerting_app, dispatcher)
                await page.locator(".board-alert[data-kind=offsite_checkin]").wait_for()
                await shoot(page, f"board-{form}-{locale}.png", full_page=form == "laptop")
                await page.locator("#board-alerts").screenshot(
                    path=str(SCREENSHOTS / f"board-alerts-{form}-{locale}.png")
                )
                await page.click(".board [data-column=on_hold] [data-open]")
                await page.locator("#panel .remarks").wait_for()
                await shoot(page, f"board-job-{form}-{locale}.png")
                await page.keyboard.press("Escape")
                await page.click("#new-job")
                await page.fill("#nj-service", "Deep clean")
                await page.locator("#panel").evaluate("panel => panel.scrollTo(0, 0)")
                await shoot(page, f"board-new-job-{form}-{locale}.png")
            finally:
                await context.close()
