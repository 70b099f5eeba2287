"""What the field app's browser benchmarks (``app.py``, ``mobile.py``) do in it, and how they
time it in the page.

After signing in, a field phone shows screens of the app's own before the day's jobs
(``cdn/src/app.js``, ``start``):

- ``#pin-set``: the first sign-in on this phone (no PIN-wrapped key kept in its IndexedDB
  yet): the PIN, twice; the app wraps the server's offline key under it (PBKDF2, then
  AES-GCM; ``cdn/src/vault.js``, SECURITY.md finding 7).
- ``#privacy-notice``: once per person and version of the text, as the server records it: a
  person's second phone fetches the notice but does not show it.
- ``#pin-unlock``: a start that gets no offline key from the server within the app's wait
  (no signal, or the server gone): the key lives only in memory, so the PIN opens what the
  phone kept. A start with signal is handed the key and asks nothing.

The typing is the benchmark's, so the figures leave out the time a screen waited for it: the
probe notes in the page (``performance.now()``, the navigation started at 0) when each
screen first appears, when each form is submitted and when "agree" is tapped; the timings
are differences of those marks.
"""

import time
from dataclasses import dataclass
from typing import Any

from playwright.async_api import Page

PIN = "246810"
"""The PIN the benchmark's phone sets for its offline vault."""

SIGN_IN_FORM = "form#login"
PIN_SET = "#pin-set"
PIN_UNLOCK = "#pin-unlock"
NOTICE = "#privacy-notice"
FIRST_JOB = "ul.jobs li"

# Installed before any script of every page: when each screen first shows, each form is
# submitted and "agree" is tapped, as performance.now() (ms since the navigation started).
PROBE = """
(() => {
  const marks = (window.__marks = {});
  const screens = {
    form: "form#login",
    pinSet: "#pin-set",
    pinUnlock: "#pin-unlock",
    notice: "#privacy-notice",
    firstJob: "ul.jobs li",
  };
  const observer = new MutationObserver(() => {
    for (const [name, selector] of Object.entries(screens)) {
      if (marks[name] === undefined && document.querySelector(selector)) {
        marks[name] = performance.now();
      }
    }
    if (marks.firstJob !== undefined) observer.disconnect();
  });
  observer.observe(document, { childList: true, subtree: true });
  document.addEventListener("submit", (event) => {
    marks["submit:" + event.target.id] = performance.now();
  }, true);
  document.addEventListener("click", (event) => {
    if (event.target.closest && event.target.closest("#agree")) marks.agree ??= performance.now();
  }, true);
})();
"""
PAGE_MARKS = """() => ({
  ...(window.__marks ?? {}),
  documentIn: performance.getEntriesByType("navigation")[0]?.responseEnd ?? null,
  keyIn: performance.getEntriesByType("resource")
    .find((entry) => new URL(entry.name).pathname === "/api/mobile/auth/offline-key")
    ?.responseEnd ?? null,
})"""


@dataclass(frozen=True)
class Marks:
    """The probe's marks of one page (ms since its navigation started; None: not seen)."""

    form: float | None
    pin_set: float | None
    pin_unlock: float | None
    notice: float | None
    first_job: float | None
    submit_login: float | None
    submit_pin_set: float | None
    submit_pin_unlock: float | None
    agree: float | None
    document_in: float | None
    key_in: float | None

    @classmethod
    def of(cls, raw: dict[str, Any]) -> "Marks":
        def mark(name: str) -> float | None:
            value = raw.get(name)
            return None if value is None else float(value)

        return cls(
            form=mark("form"),
            pin_set=mark("pinSet"),
            pin_unlock=mark("pinUnlock"),
            notice=mark("notice"),
            first_job=mark("firstJob"),
            submit_login=mark("submit:login"),
            submit_pin_set=mark("submit:pin-set"),
            submit_pin_unlock=mark("submit:pin-unlock"),
            agree=mark("agree"),
            document_in=mark("documentIn"),
            key_in=mark("keyIn"),
        )

    # A start (a reload or a reopen, signed in already).
    @property
    def opened_ms(self) -> float | None:
        """The page's own start: the navigation to the first screen the person can use, the
        PIN's if the app asked for it, else the job list."""
        return self.pin_unlock if self.pin_unlock is not None else self.first_job

    @property
    def unlock_ms(self) -> float | None:
        """The PIN submitted to the first job: the key unwrapped, the start run again, the
        list drawn. None when no PIN was asked."""
        if self.pin_unlock is None or self.submit_pin_unlock is None or self.first_job is None:
            return None
        return self.first_job - self.submit_pin_unlock

    @property
    def shown_ms(self) -> float | None:
        """The navigation to the first job, less the time the PIN screen waited for typing."""
        if self.pin_unlock is None:
            return self.first_job
        unlock = self.unlock_ms
        return None if unlock is None else self.pin_unlock + unlock

    # The first sign-in on a phone.
    @property
    def to_pin_ms(self) -> float | None:
        """The tap on "sign in" to the PIN screen: the login and the offline key."""
        return between(self.submit_login, self.pin_set)

    @property
    def after_pin_ms(self) -> float | None:
        """The PIN submitted to the next screen (the notice, or the list when the person
        agreed already): the key wrapped and kept, the notice fetched."""
        return between(
            self.submit_pin_set, self.notice if self.notice is not None else self.first_job
        )

    @property
    def notice_ms(self) -> float | None:
        """The tap on "agree" to the first job: the acknowledgement sent, the list fetched."""
        return between(self.agree, self.first_job)

    @property
    def sign_in_ms(self) -> float | None:
        """The tap on "sign in" to the first job, less the time the PIN and notice screens
        waited for the person."""
        steps = [self.to_pin_ms, self.after_pin_ms]
        if self.notice is not None:
            steps.append(self.notice_ms)
        return None if None in steps else sum(s for s in steps if s is not None)


def between(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else end - start


async def page_marks(page: Page) -> Marks:
    return Marks.of(await page.evaluate(PAGE_MARKS))


class Stuck(RuntimeError):
    """The app showed a screen the step did not expect."""


async def set_pin(page: Page, pin: str = PIN) -> None:
    await page.fill(f"{PIN_SET} input[name=pin]", pin)
    await page.fill(f"{PIN_SET} input[name=again]", pin)
    await page.click(f"{PIN_SET} button")
    await page.wait_for_selector(PIN_SET, state="detached")


async def unlock(page: Page, pin: str = PIN) -> None:
    """Enter the PIN on the vault's screen (a start with no signal)."""
    await page.fill(f"{PIN_UNLOCK} input[name=pin]", pin)
    await page.click(f"{PIN_UNLOCK} button")


async def past_first_run(page: Page) -> None:
    """Signed in: set the PIN and agree to the notice, whichever the app shows, until the
    job list. A PIN asked for here was never set: the key did not come in time."""
    for _ in range(3):
        await page.wait_for_selector(f"{PIN_SET}, {NOTICE}, {PIN_UNLOCK}, {FIRST_JOB}")
        if await page.locator(PIN_SET).count():
            await set_pin(page)
        elif await page.locator(NOTICE).count():
            await page.click("#agree")
            await page.wait_for_selector(NOTICE, state="detached")
        elif await page.locator(PIN_UNLOCK).count():
            raise Stuck("the app asked for a PIN before one was set (no offline key in time)")
        else:
            break
    await page.wait_for_selector(FIRST_JOB)


async def sign_in(page: Page, base: str, email: str, password: str) -> None:
    """Through the app's own form and its first-run screens, to the job list."""
    await page.goto(base)
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", password)
    await page.click("form button")
    await past_first_run(page)


async def to_list(page: Page, timeout_ms: float) -> float:
    """A start under way: to the job list, entering the PIN if the app asks for it, within
    ``timeout_ms``. Answers the seconds the benchmark spent typing it (0 if not asked)."""
    began = time.perf_counter()

    def left_ms() -> float:
        return max(1.0, timeout_ms - (time.perf_counter() - began) * 1000)

    await page.wait_for_selector(f"{PIN_UNLOCK}, {FIRST_JOB}", timeout=left_ms())
    typing_s = 0.0
    if await page.locator(PIN_UNLOCK).count():
        typed = time.perf_counter()
        await unlock(page)
        typing_s = time.perf_counter() - typed
    await page.wait_for_selector(FIRST_JOB, timeout=left_ms())
    return typing_s
