"""The CRM manages its webhooks: made with a secret shown once, listed without secrets,
changed, rotated, deleted; urls that point inward and unknown event types refused; the
webhooks:manage scope required."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from server.context import AppContext
from server.webhooks.schemas import RotatedSecret, WebhookAnswer, WebhookCreated, WebhookList
from tests.answers import parse_answer
from tests.integration.conftest import KeyMaker
from tests.problems import assert_problem
from tests.webhooks.receiver import Receiver
from tests.world import World, bearer

WEBHOOKS = "/api/integration/v1/webhooks"
pytestmark = pytest.mark.usefixtures("no_webhook_left")


async def make(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> httpx.Response:
    return await client.post(WEBHOOKS, json=body, headers=headers)


async def test_a_webhook_is_made_read_changed_and_deleted(
    client: httpx.AsyncClient, receiver: Receiver, crm_key: KeyMaker
) -> None:
    headers = await crm_key("webhooks:manage")
    made = await make(
        client, headers, url=receiver.url(), events=["job.completed", "job.completed"]
    )
    assert made.status_code == 201, made.text
    created = parse_answer(WebhookCreated, made.json())
    assert created.secret.startswith("whsec_") and len(created.secret) == 6 + 32

    one = await client.get(f"{WEBHOOKS}/{created.id}", headers=headers)
    webhook = parse_answer(WebhookAnswer, one.json()).webhook
    assert (webhook.url, webhook.events, webhook.enabled) == (
        receiver.url(),
        ["job.completed"],
        True,
    )
    listed = parse_answer(WebhookList, (await client.get(WEBHOOKS, headers=headers)).json())
    assert created.id in [w.id for w in listed.webhooks]
    assert created.secret not in (await client.get(WEBHOOKS, headers=headers)).text

    changed = await client.patch(
        f"{WEBHOOKS}/{created.id}",
        json={"events": ["photo.ready", "checkin.recorded"], "description": "ops board"},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["webhook"]["events"] == ["checkin.recorded", "photo.ready"]
    assert changed.json()["webhook"]["description"] == "ops board"

    rotated = await client.post(f"{WEBHOOKS}/{created.id}/rotate-secret", headers=headers)
    fresh = parse_answer(RotatedSecret, rotated.json())
    assert fresh.secret.startswith("whsec_") and fresh.secret != created.secret
    assert fresh.previous_secret_until is not None

    gone = await client.delete(f"{WEBHOOKS}/{created.id}", headers=headers)
    assert gone.status_code == 204
    for answer in (
        await client.get(f"{WEBHOOKS}/{created.id}", headers=headers),
        await client.delete(f"{WEBHOOKS}/{created.id}", headers=headers),
        await client.get(f"{WEBHOOKS}/not-a-uuid/deliveries", headers=headers),
    ):
        assert_problem(answer, 404, "webhook_not_found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": ["job.exploded"]}, "events"),
        ({"events": []}, "events"),
        ({"url": "http://crm.example.com/hooks"}, "url"),  # http to an unlisted origin
        ({"url": "https://10.20.30.40/hooks"}, "url"),
        ({"url": "https://[::1]/hooks"}, "url"),
        ({"url": "https://localhost/hooks"}, "url"),  # resolves to loopback
        ({"url": "https://169.254.169.254/latest/meta-data"}, "url"),
    ],
)
async def test_refused_webhooks_name_the_field(
    client: httpx.AsyncClient,
    receiver: Receiver,
    crm_key: KeyMaker,
    body: dict[str, Any],
    field: str,
) -> None:
    headers = await crm_key("webhooks:manage")
    wanted = {"url": receiver.url(), "events": ["job.completed"], **body}
    problem = assert_problem(await make(client, headers, **wanted), 422, "validation_failed")
    assert [e["field"] for e in problem["errors"]] == [field]


async def test_a_change_to_an_inward_url_is_refused(
    client: httpx.AsyncClient, receiver: Receiver, crm_key: KeyMaker
) -> None:
    headers = await crm_key("webhooks:manage")
    made = (await make(client, headers, url=receiver.url(), events=["photo.ready"])).json()
    answer = await client.patch(
        f"{WEBHOOKS}/{made['id']}", json={"url": "https://192.168.0.10/x"}, headers=headers
    )
    assert assert_problem(answer, 422, "validation_failed")["errors"][0]["field"] == "url"


async def test_webhooks_need_their_scope(
    client: httpx.AsyncClient, ctx: AppContext, world: World, crm_key: KeyMaker
) -> None:
    reader = await crm_key("events:read")
    assert_problem(await client.get(WEBHOOKS, headers=reader), 403, "missing_scope")
    body = {"url": "https://crm.example.com/hooks", "events": ["job.completed"]}
    assert_problem(await make(client, reader, **body), 403, "missing_scope")
    user = bearer(ctx.signer, world.admin)
    assert_problem(await client.get(WEBHOOKS, headers=user), 401, "invalid_api_key")
