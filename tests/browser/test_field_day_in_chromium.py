"""A cleaner's day in the app, on a phone-sized Chromium: a crew with its lead marked, checking
in and out (with the phone's location, and without it when it is refused, saying so), a
problem reported (the job goes on hold, the office sees it), a remark, a large camera photo
shrunk on the phone with its capture time and place kept, Buddhist-era dates in Thai, and
the language switch. Each is checked against what the server recorded."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from PIL import ExifTags, Image
from playwright.async_api import Browser, BrowserContext, FilePayload, Geolocation, Page

from server.core.clock import BANGKOK
from tests.browser.app_helpers import PHONE, SCREENSHOTS, App, as_, sign_in
from tests.photos.camera import LATITUDE, LONGITUDE, TAKEN_AT, camera_exif, camera_photo
from tests.world import World, add_jobs, add_user

HOME = Geolocation(latitude=13.7085, longitude=100.5836)  # at the customer's door
THAI_MONTHS = ["ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย."]
THAI_MONTHS += ["ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค."]
SENT = "document.getElementById('net').hidden"


@pytest.fixture
async def located_context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A phone that lets the app know where it is (at the customer's door)."""
    context = await browser.new_context(**PHONE, geolocation=HOME, permissions=["geolocation"])
    try:
        yield context
    finally:
        await context.close()


async def crew_day(
    app: App, world: World, locale: str = "th"
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A crew of two (a lead and a member) with one job at nine today, assigned to both by the
    office."""
    lead = await add_user("staff", world.south, world.south_team, "สมชาย ใจดี", locale=locale)
    member = await add_user("staff", world.south, world.south_team, "Suda Srisuk", locale=locale)
    nine = datetime.now(BANGKOK).replace(hour=9, minute=0, second=0, microsecond=0)
    [job] = await add_jobs(lead, 1, start=nine.astimezone(UTC), customer_name="คุณวิไล (Wilai)")
    async with httpx.AsyncClient(base_url=app.base) as http:
        assigned = await http.post(
            f"/api/dispatch/jobs/{job['id']}/assign",
            json={"assigneeIds": [lead["id"], member["id"]]},
            headers=await as_(http, world.dispatcher),
        )
    assert assigned.status_code == 200, assigned.text
    return lead, member, job


async def open_job(page: Page, app: App, person: dict[str, Any]) -> None:
    await sign_in(page, app, person)
    await page.click("ul.jobs li a")
    await page.wait_for_selector("#visit")


async def office_detail(app: App, world: World, job_id: str) -> dict[str, Any]:
    """The job as the dispatcher sees it."""
    async with httpx.AsyncClient(base_url=app.base) as http:
        answer = await http.get(
            f"/api/mobile/jobs/{job_id}", headers=await as_(http, world.dispatcher)
        )
    assert answer.status_code == 200, answer.text
    detail: dict[str, Any] = answer.json()
    return detail


async def office_check_ins(app: App, world: World, job_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=app.base) as http:
        answer = await http.get(
            f"/api/dispatch/jobs/{job_id}/checkins", headers=await as_(http, world.dispatcher)
        )
    check_ins: list[dict[str, Any]] = answer.json()["checkIns"]
    return check_ins


async def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


async def test_the_crew_shows_its_lead_and_only_the_lead_moves_the_job(
    app_process: App, browser: Browser, browser_context: BrowserContext, world: World
) -> None:
    lead, member, _ = await crew_day(app_process, world)
    page = await browser_context.new_page()
    await open_job(page, app_process, member)
    assert await page.locator(".crew .member").all_inner_texts() == [
        "สมชาย ใจดี หัวหน้าทีม",
        "Suda Srisuk",
    ]
    assert await page.locator("#step").count() == 0, "a member does not move the status"
    assert "หัวหน้าทีมเป็นผู้เปลี่ยนสถานะงาน" in await page.inner_text("main")
    assert await page.get_attribute("#call", "href") == "tel:0812345678"
    maps = "https://www.google.com/maps/search/?api=1&query=13.7083%2C100.5838"
    assert await page.get_attribute("#map", "href") == maps
    await screenshot(page, "field-job-th.png")
    await page.click("#lang")
    await page.wait_for_selector("text=Call the customer")
    crew = await page.locator(".crew .member").all_inner_texts()
    assert crew == ["สมชาย ใจดี Lead", "Suda Srisuk"]
    await screenshot(page, "field-job-en.png")

    leads_phone = await browser.new_context(**PHONE)
    try:
        lead_page = await leads_phone.new_page()
        await open_job(lead_page, app_process, lead)
        assert await lead_page.locator("#step").count() == 1
    finally:
        await leads_phone.close()


async def test_checking_in_and_out_where_the_phone_is(
    app_process: App, located_context: BrowserContext, world: World
) -> None:
    lead, _, job = await crew_day(app_process, world)
    page = await located_context.new_page()
    await open_job(page, app_process, lead)
    await page.click("#visit")
    await page.wait_for_function(SENT)
    await page.wait_for_selector("#visit:has-text('เช็คเอาท์')")
    assert "เช็คอินแล้ว" in await page.inner_text("#visited")
    await page.wait_for_selector("h2[data-status=in_progress]")  # the lead has arrived
    assert await page.is_hidden("#unplaced")
    # Leaving, the phone finds no fix (DevTools' override without a position).
    cdp = await located_context.new_cdp_session(page)
    await cdp.send("Emulation.setGeolocationOverride", {})
    await page.click("#visit")
    await page.wait_for_selector("#visit:has-text('เช็คอิน')")
    assert "หาตำแหน่งไม่ได้" in await page.inner_text("#unplaced")
    await page.wait_for_function(SENT)
    assert "เช็คเอาท์แล้ว" in await page.inner_text("#visited")

    check_ins = await office_check_ins(app_process, world, job["id"])
    assert [(c["type"], c["locationMissing"], c["withinGeofence"]) for c in check_ins] == [
        ("in", False, True),
        ("out", True, None),
    ]
    assert check_ins[0]["location"] == {"lat": HOME["latitude"], "lng": HOME["longitude"]}
    assert check_ins[1]["location"] is None


async def test_a_refused_location_is_said_and_the_check_in_recorded_without_it(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    """The context has no geolocation permission: the browser refuses the app's request."""
    _, member, job = await crew_day(app_process, world)
    page = await browser_context.new_page()
    await open_job(page, app_process, member)
    await page.click("#visit")
    said = page.locator("#unplaced")
    await said.wait_for()
    assert "ไม่ได้รับอนุญาตให้ใช้ตำแหน่ง" in await said.inner_text()
    await page.wait_for_function(SENT)
    await page.wait_for_selector("#visit:has-text('เช็คเอาท์')")
    assert await said.is_visible(), "still said once the check-in is sent"
    await screenshot(page, "field-checkin-denied-th.png")
    await page.click("#lang")
    await page.wait_for_selector("#unplaced:has-text('Location is blocked')")
    await screenshot(page, "field-checkin-denied-en.png")

    [check_in] = await office_check_ins(app_process, world, job["id"])
    assert (check_in["type"], check_in["location"]) == ("in", None)
    assert (check_in["locationMissing"], check_in["withinGeofence"]) == (True, None)
    assert check_in["userId"] == member["id"]


async def test_a_problem_reported_offline_puts_the_job_on_hold_for_the_office(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    _, member, job = await crew_day(app_process, world)
    page = await browser_context.new_page()
    await open_job(page, app_process, member)
    await page.evaluate("navigator.serviceWorker.ready")
    await page.click("#report")
    await page.wait_for_selector("#problem")
    await screenshot(page, "field-problem-th.png")
    await page.click("#lang")
    await page.wait_for_selector("text=Cannot get in")
    await screenshot(page, "field-problem-en.png")
    await page.click("#lang")
    await page.wait_for_selector("text=เข้าบ้านหรืออาคารไม่ได้")

    app_process.stop()  # no signal at the gate
    await page.check("input[value=no_access]")
    await page.fill("#note", "ประตูล็อก รปภ. ไม่ให้เข้า")
    photo = FilePayload(name="gate.jpg", mimeType="image/jpeg", buffer=camera_photo("JPEG"))
    await page.set_input_files("#problem-photo", files=[photo])
    await page.click("#send")
    await page.wait_for_selector("h2[data-status=on_hold]")  # at once, before it is sent
    assert "งานนี้พักไว้ก่อน" in await page.inner_text("main")
    assert "ปัญหา: เข้าบ้านหรืออาคารไม่ได้" in await page.inner_text("ul.notes")
    assert "Suda Srisuk" in await page.inner_text("ul.notes")

    await app_process.start()
    await page.evaluate("window.dispatchEvent(new Event('online'))")
    await page.wait_for_function(SENT, timeout=15_000)
    detail = await office_detail(app_process, world, job["id"])
    assert detail["job"]["status"] == "on_hold"
    [problem] = detail["problems"]
    assert (problem["reason"], problem["note"]) == ("no_access", "ประตูล็อก รปภ. ไม่ให้เข้า")
    assert problem["reportedBy"] == member["id"]
    assert problem["photoId"] in [p["id"] for p in detail["photos"]]
    await page.wait_for_selector("h2[data-status=on_hold]")
    assert "รอส่ง" not in await page.inner_text("ul.notes")
    await screenshot(page, "field-on-hold-th.png")
    await page.click("#lang")
    await page.wait_for_selector("text=This job is on hold")
    await screenshot(page, "field-on-hold-en.png")


async def test_a_remark_is_listed_with_who_wrote_it_and_when(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    _, member, job = await crew_day(app_process, world)
    page = await browser_context.new_page()
    await open_job(page, app_process, member)
    await page.fill("#remark textarea", "ลูกค้าขอให้เช็ดกระจกเพิ่ม · extra windows")
    await page.click("#remark button")
    await page.wait_for_function(SENT)
    note = page.locator("ul.notes li")
    await note.filter(has_text="extra windows").wait_for()
    [remark] = (await office_detail(app_process, world, job["id"]))["remarks"]
    assert (remark["authorId"], remark["text"]) == (
        member["id"],
        "ลูกค้าขอให้เช็ดกระจกเพิ่ม · extra windows",
    )
    written = datetime.fromisoformat(remark["createdAt"]).astimezone(BANGKOK)
    shown = await note.inner_text()
    assert "Suda Srisuk" in shown and f"{written:%H:%M}" in shown
    assert f"{written.year + 543}" in shown


def large_camera_photo() -> bytes:
    """A 12 MP camera JPEG (4000×3000, turned by EXIF orientation 6) with its capture time
    and GPS, and enough detail to weigh what a phone's photo does."""
    size = (4000, 3000)
    gradient = Image.linear_gradient("L").resize(size)
    grain = Image.effect_noise(size, 40)
    picture = Image.merge("RGB", (gradient, grain, Image.blend(gradient, grain, 0.5)))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=92, exif=camera_exif(6).tobytes())
    return buffer.getvalue()


@pytest.mark.photo_processing
async def test_a_large_photo_is_shrunk_on_the_phone_and_keeps_its_evidence(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    _, member, job = await crew_day(app_process, world)
    original = large_camera_photo()
    page = await browser_context.new_page()
    await open_job(page, app_process, member)
    photo = FilePayload(name="IMG_2041.jpg", mimeType="image/jpeg", buffer=original)
    # The page or its service worker (on Background Sync) uploads: either is the context's.
    put = browser_context.expect_event("request", lambda r: r.method == "PUT", timeout=30_000)
    async with put as upload:
        await page.set_input_files("#photo", files=[photo])
    sent = len((await upload.value).post_data_buffer or b"")
    await page.wait_for_function(SENT, timeout=30_000)
    assert sent < len(original) / 3, (sent, len(original))
    saved = page.locator("#saved")
    await saved.wait_for()
    assert int(await saved.get_attribute("data-bytes") or 0) == len(original) - sent

    shown: dict[str, Any] = {}
    for _ in range(300):
        [shown] = (await office_detail(app_process, world, job["id"]))["photos"]
        if shown["status"] == "ready":
            break
        await page.wait_for_timeout(100)
    assert shown["status"] == "ready", shown
    assert (shown["width"], shown["height"]) == (1500, 2000), "upright, and turned only once"
    taken = datetime.strptime(TAKEN_AT, "%Y:%m:%d %H:%M:%S").replace(tzinfo=BANGKOK)
    assert datetime.fromisoformat(shown["takenAt"]) == taken
    place = shown["evidence"]["location"]
    assert place["lat"] == pytest.approx(LATITUDE) and place["lng"] == pytest.approx(LONGITUDE)
    async with httpx.AsyncClient(base_url=app_process.base) as http:
        stored = (await http.get(shown["originalUrl"])).content
    assert len(stored) == sent
    with Image.open(io.BytesIO(stored)) as kept:
        assert max(kept.size) <= 2000
        assert kept.getexif()[ExifTags.Base.Orientation] == 1


async def test_thai_dates_are_buddhist_era_and_the_language_stays_switched(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    _, member, _ = await crew_day(app_process, world)
    page = await browser_context.new_page()
    await sign_in(page, app_process, member)
    today = datetime.now(BANGKOK)
    assert await page.inner_text("#day") == (
        f"{today.day} {THAI_MONTHS[today.month - 1]} {today.year + 543}"
    )
    assert await page.get_attribute("html", "lang") == "th"
    await page.click("ul.jobs li a")
    await page.wait_for_selector("#visit")
    assert f"{today.year + 543} 09:00" in await page.inner_text("main p.muted")

    await page.click("#lang")
    await page.wait_for_selector("#visit:has-text('Check in')")
    assert f"{today:%-d %b %Y} 09:00" in await page.inner_text("main p.muted")
    assert await page.get_attribute("html", "lang") == "en"
    await page.reload()  # remembered on this phone
    await page.wait_for_selector("#visit:has-text('Check in')")
    await page.goto(f"{app_process.base}/#")
    await page.wait_for_selector("ul.jobs li")
    assert await page.inner_text("main h2") == "Today's jobs"
    assert await page.inner_text("#day") == f"{today:%-d %b %Y}"
    assert await page.inner_text("#lang") == "ไทย"
