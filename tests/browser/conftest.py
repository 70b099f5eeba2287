"""Fixtures of the browser tests: one Chromium for the whole session, a fresh context (its own
storage, service workers and caches) for each test, and a fresh app process for each test.
Helpers the tests call are in ``tests/browser/app_helpers.py``."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Playwright, async_playwright

from tests.browser.app_helpers import PHONE, App, chromium_or_skip, kill, restartable_port

APP_SETTINGS = {"PHOTO_PROCESSING_WORKERS": "0", "PUSH_SENDERS": "0"}
"""What an app a test starts runs with, unless the test is marked ``photo_processing``: the
photo supervisor and its processor are two more processes that each import the app, about
doubling the CPU a start takes (the push sender likewise: no test here sends pushes)."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "photo_processing: the test's app processes photos (see APP_SETTINGS)"
    )


@pytest.fixture(scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    driver = await async_playwright().start()
    try:
        yield driver
    finally:
        await driver.stop()


@pytest.fixture(scope="session")
async def browser(playwright: Playwright) -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, launched once: launching it took a good part of a test."""
    executable = chromium_or_skip()
    chromium = await playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
    try:
        yield chromium
    finally:
        await chromium.close()


@pytest.fixture
async def browser_context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A context of the test's own: nothing another test left (storage, service workers,
    caches) is seen in it. It is incognito, so Chromium never offers to install the app from
    it: see ``installable_context``."""
    context = await browser.new_context(**PHONE)
    try:
        yield context
    finally:
        await context.close()


@pytest.fixture
async def installable_context(
    playwright: Playwright, tmp_path: Path
) -> AsyncIterator[BrowserContext]:
    """A context on a persistent profile, in a Chromium of its own: Chromium does not offer
    to install from an incognito one ("in-incognito" among the installability errors)."""
    executable = chromium_or_skip()
    context = await playwright.chromium.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=executable, args=["--no-sandbox"], **PHONE
    )
    try:
        yield context
    finally:
        await context.close()


@pytest.fixture
def app_settings(request: pytest.FixtureRequest) -> dict[str, str]:
    """Environment settings of the app a test starts (APP_SETTINGS, or none at all for a test
    marked ``photo_processing``)."""
    if request.node.get_closest_marker("photo_processing"):
        return {}
    return dict(APP_SETTINGS)


class AppSupply:
    """Apps on one database, each started one test ahead. A start takes about two seconds,
    nearly all of it Python importing the app twice (Sanic's main process, then its worker),
    while the test before mostly waits on the browser. Every app is a new process that serves
    one test only; after the test it gets SIGTERM, and is waited for at the end."""

    def __init__(self, database_url: str, folder: Path) -> None:
        self.database_url = database_url
        self.folder = folder
        self.numbers = itertools.count()
        self.ahead: tuple[App, asyncio.Task[None]] | None = None
        self.retired: list[App] = []

    def new(self, settings: dict[str, str]) -> App:
        folder = self.folder / f"app-{next(self.numbers)}"
        folder.mkdir()
        return App(self.database_url, folder, restartable_port(), settings)

    async def take(self) -> App:
        """An app with APP_SETTINGS, up; the next one starts."""
        ahead, self.ahead = self.ahead, None
        if ahead is None:
            app = self.new(APP_SETTINGS)
            starting = asyncio.create_task(app.start())
        else:
            app, starting = ahead
        try:
            await starting
        except BaseException:
            self.retire(app)
            raise
        following = self.new(APP_SETTINGS)
        self.ahead = following, asyncio.create_task(following.start())
        return app

    def retire(self, app: App) -> None:
        """SIGTERM to the app after its test; its processes are waited for at the end."""
        if app.process is not None:
            app.process.terminate()
            app.exiting.append(app.process)
            app.process = None
        self.retired.append(app)

    async def close(self) -> None:
        if self.ahead is not None:
            app, starting = self.ahead
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await starting
            if app.process is not None:  # no test took it: no need to be gentle
                kill(app.process)
        for app in self.retired:
            app.reap()


@pytest.fixture(scope="session")
async def app_supply(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AppSupply]:
    supply = AppSupply(database_url, tmp_path_factory.mktemp("apps"))
    try:
        yield supply
    finally:
        await supply.close()


@pytest.fixture
async def app_process(app_supply: AppSupply, app_settings: dict[str, str]) -> AsyncIterator[App]:
    """The app, up, on a port of its own, for this test only. Its folder (DATA_DIR and
    ``app.log``) is not the test's ``tmp_path``."""
    if app_settings == APP_SETTINGS:
        app = await app_supply.take()
    else:
        app = app_supply.new(app_settings)
        await app.start()
    try:
        yield app
    finally:
        app_supply.retire(app)
