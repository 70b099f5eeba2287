"""A CRM's side of the Tinedy field integration, in one short file (see docs/webhooks.md).

It reads bookings from a CSV, upserts their branches, customers and jobs by the CRM's own
ids (``PUT /api/integration/v1/{kind}/{externalId}``: the same row twice changes nothing),
then, with ``--listen``, registers a webhook and runs a small receiver that verifies every
delivery's Standard Webhooks signature with the ``standardwebhooks`` library and prints the
event. Run it against a server:

    export TINEDY_API_KEY=$(python -m server create-api-key --name crm-mirror --scope all)
    WEBHOOK_ALLOWED_ORIGINS=http://127.0.0.1:9000 python -m server run &
    python examples/crm_mirror.py --server http://127.0.0.1:8000 \
        --csv examples/bookings.csv --listen 127.0.0.1:9000

It is a reference, not part of the server (which never imports it).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

API = "/api/integration/v1"
EVENTS = ["job.status_changed", "job.completed", "checkin.recorded", "photo.ready"]


def records(path: Path) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Each booking row as the upserts it needs: (kind, external id, record), in order."""
    with path.open(newline="", encoding="utf-8") as file:
        for row in csv.DictReader(file):
            yield "branches", row["branch_id"], {"name": row["branch_name"]}
            yield (
                "customers",
                row["customer_id"],
                {
                    "name": row["customer_name"],
                    "phone": row["phone"],
                    "address": row["address"],
                    "location": {"lat": float(row["lat"]), "lng": float(row["lng"])},
                    "branchExternalId": row["branch_id"],
                },
            )
            job: dict[str, Any] = {
                "customerExternalId": row["customer_id"],
                "serviceType": row["service"],
                "scheduledDate": row["scheduled"],
                "durationMinutes": int(row["duration_minutes"]),
                "checklist": [label for label in row["checklist"].split("|") if label],
            }
            if row["staff_ids"]:
                job["assigneeExternalIds"] = row["staff_ids"].split("|")
            yield "jobs", row["booking_id"], job


async def upsert_bookings(http: aiohttp.ClientSession, server: str, path: Path) -> None:
    for kind, external_id, record in records(path):
        async with http.put(f"{server}{API}/{kind}/{external_id}", json=record) as answer:
            body = await answer.json()
            if answer.status not in (200, 201):
                raise SystemExit(f"{kind}/{external_id}: {answer.status} {body}")
            print(f"{kind}/{external_id}: {'created' if answer.status == 201 else 'up to date'}")


async def register_webhook(http: aiohttp.ClientSession, server: str, url: str) -> str:
    """A webhook for ``url``; its secret (shown once: a real CRM stores it)."""
    async with http.post(f"{server}{API}/webhooks", json={"url": url, "events": EVENTS}) as made:
        body = await made.json()
        if made.status != 201:
            raise SystemExit(f"webhook: {made.status} {body}")
        secret: str = body["secret"]
        return secret


def receiver(secret: str, on_event: Callable[[str, dict[str, Any]], None]) -> web.Application:
    """A receiver: 204 for a delivery whose signature verifies (each ``webhook-id`` handled
    once: retries and replays repeat it), 400 for one that does not."""
    webhook = Webhook(secret)
    seen: set[str] = set()

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            event = webhook.verify(body, dict(request.headers))
        except WebhookVerificationError:
            return web.Response(status=400, text="bad signature")
        message_id = request.headers["webhook-id"]
        if message_id not in seen:
            seen.add(message_id)
            on_event(message_id, event)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/webhooks", receive)
    return app


def print_event(message_id: str, event: dict[str, Any]) -> None:
    job = event["data"].get("job") or {}
    print(
        f"{message_id} {event['type']} job={job.get('externalId') or job.get('id')} "
        f"status={job.get('status')} version={job.get('version')}"
    )
    print(json.dumps(event["data"], ensure_ascii=False)[:300], flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="http://127.0.0.1:8000")
    parser.add_argument("--csv", type=Path, default=Path(__file__).with_name("bookings.csv"))
    parser.add_argument("--listen", help="host:port for the webhook receiver")
    parser.add_argument("--seconds", type=float, default=0, help="stop after (0: never)")
    args = parser.parse_args()
    key = os.environ["TINEDY_API_KEY"]
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        await upsert_bookings(http, args.server, args.csv)
        if not args.listen:
            return
        host, port = args.listen.rsplit(":", 1)
        secret = await register_webhook(http, args.server, f"http://{host}:{port}/webhooks")
    runner = web.AppRunner(receiver(secret, print_event), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, int(port)).start()
    print(f"receiving webhooks on http://{host}:{port}/webhooks", flush=True)
    try:
        await asyncio.sleep(args.seconds or float("inf"))
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
