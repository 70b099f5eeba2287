"""Web Push in a real browser (Playwright driving Debian's Chromium, headless). A push is
delivered to the service worker through the DevTools protocol, as a push service would:
the worker shows its notification, posts the "displayed" receipt and fetches the pushed
job again for the offline copy. With the server gone, the receipt waits in the vault (an
older build's vault grows the store for it and keeps everything it held) and leaves with
the page's next flush, or with the worker's next sync when no page is open.

Headless Chromium has no push service, so subscribing fails there (silently, which is
checked too); the pushes are handed to the worker directly. The receipt ids are made up
here, so the server answers them as not the caller's (404, a final answer): the tests look
at the requests the worker makes, not at delivery states on the server.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from playwright.async_api import BrowserContext, Page, Route

from server.core.access import Principal, Role
from server.db.engine import write_transaction
from server.db.tables import ChangeLog, Notification
from server.dispatch import service as dispatch_service
from server.dispatch.service import JobEdits
from server.push import queries as notification_queries
from server.push.service import fan_out
from server.push.subscriptions import NewSubscription, subscribe
from server.push.worker import payload_of, plan_job_pushes
from tests.browser.app_helpers import (
    App,
    as_,
    controlled_page,
    receipts_of,
    sign_in,
    step_offline,
    todays_jobs,
    worker_registration,
)
from tests.browser.test_app_in_chromium import HAS_LOCK
from tests.push.push_service import BrowserKeys
from tests.world import World

RECEIPTS = "**/api/mobile/notifications/*/receipts"

NOTIFICATIONS = """() => navigator.serviceWorker.ready
  .then((registration) => registration.getNotifications())
  .then((shown) => shown.map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data,
    renotify: n.renotify, requireInteraction: n.requireInteraction })))"""

SEALED_AT = """async (path) => {
  const cache = await caches.open("tinedy-data");
  const kept = await cache.match(new URL(path, location.origin).href);
  return kept ? Number(kept.headers.get("X-Sealed-At")) : 0;
}"""

# The vault as the build before receipts left it: version 2, four stores, same records.
AS_THE_OLDER_BUILD_LEFT_IT = """async () => {
  const done = (r) => new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  const names = ["outbox", "notices", "meta", "photos"];
  const db = await done(indexedDB.open("tinedy-vault"));
  const records = {};
  for (const name of names) {
    const store = db.transaction(name).objectStore(name);
    const [keys, values] = [await done(store.getAllKeys()), await done(store.getAll())];
    records[name] = keys.map((key, i) => [key, values[i]]);
  }
  db.close();
  indexedDB.deleteDatabase("tinedy-vault"); // queued: the open below waits for it
  const open = indexedDB.open("tinedy-vault", 2);
  open.onupgradeneeded = () => {
    const keyPaths = { outbox: "mutationId", notices: "mutationId", photos: "photoId" };
    for (const name of names) {
      open.result.createObjectStore(name, keyPaths[name] ? { keyPath: keyPaths[name] } : undefined);
    }
  };
  const older = await done(open);
  const tx = older.transaction(names, "readwrite");
  for (const name of names) {
    const store = tx.objectStore(name);
    for (const [key, value] of records[name]) store.put(value, store.keyPath ? undefined : key);
  }
  await new Promise((resolve) => (tx.oncomplete = resolve));
  older.close();
  return { version: older.version, stores: [...older.objectStoreNames].sort(),
           outbox: records.outbox.length };
}"""

VAULT = """() => new Promise((resolve) => {
  const open = indexedDB.open("tinedy-vault");
  open.onsuccess = () => {
    const db = open.result;
    const stores = [...db.objectStoreNames].sort();
    const all = (name) => new Promise((done) => {
      if (!db.objectStoreNames.contains(name)) return done([]);
      const request = db.transaction(name).objectStore(name).getAll();
      request.onsuccess = () => done(request.result);
    });
    Promise.all([all("outbox"), all("receipts")]).then(([outbox, receipts]) => {
      db.close();
      resolve({ version: db.version, stores, outbox: outbox.length, receipts });
    });
  };
})"""


def message(job: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """A push payload as the server sends it (ids made up)."""
    return {
        "notificationId": str(uuid.uuid4()),
        "deliveryId": str(uuid.uuid4()),
        "kind": "urgent",
        "title": "งานด่วน · Urgent job",
        "body": "คุณวิไล ทดสอบ (Wilai) 09:00",
        "url": f"/#job/{job['id']}",
        "urgency": "high",
        "changeId": None,
        "jobId": job["id"],
        "tag": f"job-{job['id']}",
        **overrides,
    }


async def delivered_message(
    world: World, staff: dict[str, Any], job: dict[str, Any]
) -> dict[str, Any]:
    """The push the server makes when a dispatcher marks ``staff``'s job urgent: a real
    notification and delivery for a subscription of theirs, and the payload a push service
    would hand the worker (no push service here)."""
    phone = Principal(staff["id"], str(uuid.uuid4()), Role.STAFF, world.south, world.south_team)
    subscription = {
        "endpoint": f"https://fcm.googleapis.com/fcm/send/{uuid.uuid4().hex}",
        "keys": {"p256dh": BrowserKeys.generate().p256dh, "auth": BrowserKeys.generate().auth},
    }
    await subscribe(phone, NewSubscription.model_validate(subscription), ("fcm.googleapis.com",))
    office = Principal(
        world.dispatcher["id"], str(uuid.uuid4()), Role.DISPATCHER, world.south, None
    )
    await dispatch_service.edit_job(office, job["id"], JobEdits(priority="urgent"))
    change = (
        await ChangeLog.select()
        .where(ChangeLog.job_id == job["id"])
        .order_by(ChangeLog.id, ascending=False)
        .first()
        .output(load_json=True)
    )
    async with write_transaction():
        await plan_job_pushes([change], 3600)
    now = datetime.now(UTC)
    async with write_transaction():
        await fan_out(await notification_queries.claim_due_notifications(now, 100), now)
    [notification] = (
        await Notification.select().where(Notification.job_id == job["id"]).output(load_json=True)
    )
    [delivery] = await notification_queries.deliveries_of(str(notification["id"]))
    payload: dict[str, Any] = json.loads(payload_of(notification, delivery))
    assert payload["kind"] == "urgent" and payload["jobId"] == job["id"]
    return payload


async def record_receipts(context: BrowserContext) -> list[dict[str, Any]]:
    """Every receipt request the worker or the page makes, passed on to the server."""
    posted: list[dict[str, Any]] = []

    async def note(route: Route) -> None:
        request = route.request
        posted.append({"path": urlsplit(request.url).path, "body": request.post_data_json})
        await route.continue_()

    await context.route(RECEIPTS, note)
    return posted


async def push(page: Page, app: App, payload: dict[str, Any]) -> None:
    """What a push service does: hand the worker an (already decrypted) message."""
    await to_worker(
        page,
        app,
        "ServiceWorker.deliverPushMessage",
        {"data": json.dumps(payload, ensure_ascii=False)},
    )


async def to_worker(page: Page, app: App, method: str, params: dict[str, Any]) -> None:
    """Send a DevTools ``ServiceWorker`` command to the app's registration."""
    cdp, registration = await worker_registration(page, app)
    await cdp.send(method, registration | params)


async def wait_until(page: Page, script: str, check: Callable[[Any], Any], arg: Any = None) -> Any:
    """The script's answer once ``check`` holds for it (or the last one, after 30 s: the
    worker's timers are slower on a machine running other tests too)."""
    for _ in range(300):
        answer = await page.evaluate(script, arg)
        if check(answer):
            break
        await asyncio.sleep(0.1)
    return answer


async def test_a_push_shows_its_notification_posts_its_receipt_and_refreshes_the_job(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    await browser_context.grant_permissions(["notifications"], origin=app_process.base)
    posted = await record_receipts(browser_context)
    page, staff, jobs = await controlled_page(browser_context, app_process, world)
    assert await page.locator("#push").count() == 0, "allowed already: nothing to ask"
    detail = f"/api/mobile/jobs/{jobs[0]['id']}"
    kept_at = await wait_until(page, SEALED_AT, bool, detail)  # fetched ahead for offline
    assert kept_at

    payload = await delivered_message(world, staff, jobs[0])
    await push(page, app_process, payload)

    shown = await wait_until(page, NOTIFICATIONS, bool)
    assert shown == [
        {
            "title": payload["title"],
            "body": payload["body"],
            "tag": payload["tag"],
            "data": {
                "url": payload["url"],
                "notificationId": payload["notificationId"],
                "deliveryId": payload["deliveryId"],
            },
            "renotify": True,
            "requireInteraction": True,
        }
    ]
    for _ in range(100):
        if posted:
            break
        await page.wait_for_timeout(100)
    assert posted == [
        {
            "path": f"/api/mobile/notifications/{payload['notificationId']}/receipts",
            "body": {"event": "displayed", "deliveryId": payload["deliveryId"]},
        }
    ]
    assert await wait_until(page, SEALED_AT, lambda at: at > kept_at, detail) > kept_at, (
        "the pushed job is fetched and sealed again"
    )
    async with httpx.AsyncClient(base_url=app_process.base) as http:
        answer = await http.get(
            f"/api/mobile/notifications/{payload['notificationId']}",
            headers=await as_(http, staff),
        )
    [delivery] = answer.json()["deliveries"]
    assert delivery["state"] == "displayed" and delivery["displayedAt"], "the server knows"


async def test_a_receipt_waits_in_the_vault_while_the_server_is_gone(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    await browser_context.grant_permissions(["notifications"], origin=app_process.base)
    posted = await record_receipts(browser_context)
    page, staff, jobs = await controlled_page(browser_context, app_process, world)
    await step_offline(page, app_process)  # a change waits in the outbox; the server is gone
    older = await page.evaluate(AS_THE_OLDER_BUILD_LEFT_IT)
    assert older == {"version": 2, "stores": ["meta", "notices", "outbox", "photos"], "outbox": 1}

    payload = message(jobs[1], kind="assigned", urgency="normal", tag="assigned")
    await push(page, app_process, payload)
    vault = await wait_until(page, VAULT, lambda v: v["receipts"])
    assert [(r["notificationId"], r["deliveryId"], r["event"]) for r in vault["receipts"]] == [
        (payload["notificationId"], payload["deliveryId"], "displayed")
    ]
    assert vault["version"] == 3, "the vault grew a store, one version up"
    assert vault["stores"] == ["meta", "notices", "outbox", "photos", "receipts"]
    assert vault["outbox"] == 1 and await page.evaluate(HAS_LOCK), "nothing it held is lost"
    [notification] = await page.evaluate(NOTIFICATIONS)
    assert (notification["tag"], notification["renotify"]) == ("assigned", False)
    assert notification["requireInteraction"] is False

    await app_process.start()  # signal again
    await page.evaluate("window.dispatchEvent(new Event('online'))")
    vault = await wait_until(page, VAULT, lambda v: not v["receipts"] and not v["outbox"])
    assert (vault["receipts"], vault["outbox"]) == ([], 0), "the server has answered both"
    assert posted and all(
        p
        == {
            "path": f"/api/mobile/notifications/{payload['notificationId']}/receipts",
            "body": {"event": "displayed", "deliveryId": payload["deliveryId"]},
        }
        for p in posted
    )
    receipts = await receipts_of(app_process, staff)
    assert [(r["outcome"], r["jobId"]) for r in receipts] == [("applied", jobs[0]["id"])], (
        "the change made before the upgrade is sent, once"
    )


async def test_the_worker_sends_a_waiting_receipt_with_no_page_open(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    await browser_context.grant_permissions(["notifications"], origin=app_process.base)
    posted = await record_receipts(browser_context)
    page, _, jobs = await controlled_page(browser_context, app_process, world)
    app_process.stop()
    payload = message(jobs[0], kind="message", url="/", jobId=None, tag="team")
    await push(page, app_process, payload)
    assert (await wait_until(page, VAULT, lambda v: v["receipts"]))["receipts"]
    await page.close()  # the person pockets the phone

    await app_process.start()
    probe = await browser_context.new_page()  # the origin's storage, but not the app
    await probe.goto(f"{app_process.base}/healthz")
    sent = len(posted)
    # What Chromium does when the signal comes back, asked for now rather than in minutes.
    await to_worker(
        probe,
        app_process,
        "ServiceWorker.dispatchSyncEvent",
        {"tag": "tinedy-outbox", "lastChance": False},
    )
    vault = await wait_until(probe, VAULT, lambda v: not v["receipts"])
    assert vault["receipts"] == []
    assert posted[sent:] == [
        {
            "path": f"/api/mobile/notifications/{payload['notificationId']}/receipts",
            "body": {"event": "displayed", "deliveryId": payload["deliveryId"]},
        }
    ]


async def test_the_jobs_screen_offers_notifications_until_asked(
    app_process: App, browser_context: BrowserContext, world: World
) -> None:
    staff, _ = await todays_jobs(world)
    page = await browser_context.new_page()
    await sign_in(page, app_process, staff)
    assert await page.evaluate("Notification.permission") == "default"
    assert await page.inner_text("#push") == "เปิดการแจ้งเตือน"
    await page.click("#push")  # headless Chromium answers for the person
    await page.wait_for_selector("#push", state="detached")
    assert await page.evaluate("Notification.permission") != "granted"
    assert (
        await page.evaluate(
            "navigator.serviceWorker.ready.then((r) => r.pushManager.getSubscription())"
        )
        is None
    )
