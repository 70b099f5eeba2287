"""The dispatch board hears every live event the server sends: a job created in the office
(here through the API, as another dispatcher's screen would) shows on a board already open,
with no reload."""

from __future__ import annotations

from datetime import datetime

import httpx
from playwright.async_api import BrowserContext

from server.core.clock import BANGKOK
from tests.browser.app_helpers import App, as_, office_page, todays_jobs
from tests.world import World

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
