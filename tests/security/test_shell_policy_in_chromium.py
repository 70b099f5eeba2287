"""The app shell's Content Security Policy holds in a real browser and breaks nothing: a
staff member and a dispatcher use the app (sign-in, the worker, the manifest, jobs, a job, the
board) and Chromium refuses nothing. (The other browser tests bypass the policy: Playwright
evaluates their string predicates in the page, which the policy forbids.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

from server.http.security_headers import SHELL_POLICY
from tests.browser.app_helpers import PHONE, App, chromium_or_skip, sign_in, todays_jobs
from tests.browser.conftest import APP_SETTINGS
from tests.servers import free_port
from tests.world import TEST_PASSWORD, World, add_user


@pytest.fixture
async def app_process(database_url: str, tmp_path: Path) -> AsyncIterator[App]:
    app = App(database_url, tmp_path, free_port(), dict(APP_SETTINGS))
    await app.start()
    try:
        yield app
    finally:
        app.stop()
        app.reap()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as driver:
        chromium = await driver.chromium.launch(
            executable_path=chromium_or_skip(), args=["--no-sandbox"]
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def phone(browser: Browser, refused: list[str]) -> Page:
    """A page of a context of its own, under the policy (no bypass), that notes what
    Chromium reports refusing under it."""

    def seen(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            refused.append(message.text)

    context = await browser.new_context(**(PHONE | {"bypass_csp": False}))
    page = await context.new_page()
    page.on("console", seen)
    return page


async def test_the_app_works_under_its_policy(
    app_process: App, browser: Browser, world: World
) -> None:
    refused: list[str] = []
    staff, jobs = await todays_jobs(world)
    page = await phone(browser, refused)

    await sign_in(page, app_process, staff)
    shell = await page.request.get(app_process.base + "/")
    assert shell.headers["content-security-policy"] == SHELL_POLICY
    await page.evaluate("navigator.serviceWorker.ready")
    await page.reload()
    await page.wait_for_selector("ul.jobs li")
    await page.click("ul.jobs li a")
    await page.wait_for_selector("#step")
    framed = await page.evaluate(
        "async () => { const f = document.createElement('iframe'); f.src = '/';"
        " document.body.append(f); await new Promise(r => setTimeout(r, 500));"
        " try { return Boolean(f.contentDocument?.querySelector('main')); }"
        " catch { return false; } }"
    )
    assert framed is False, "the shell must not load in a frame, even its own"

    dispatcher = await add_user("dispatcher", world.south, None, "Noi", locale="en")
    page = await phone(browser, refused)
    await page.goto(app_process.base)
    await page.fill("input[name=email]", dispatcher["email"])
    await page.fill("input[name=password]", TEST_PASSWORD)
    await page.click("form button")
    await page.wait_for_selector(f"select[data-job='{jobs[0]['id']}']")

    assert [text for text in refused if "frame-ancestors" not in text] == []
    assert any("frame-ancestors" in text for text in refused), "the frame was refused"
