"""Web Push subscriptions: the VAPID key a browser subscribes with, and subscriptions kept
only for known push services, one per endpoint, each person's own."""

from __future__ import annotations

import base64
import os
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from server.context import AppContext
from server.db.tables import PushSubscription
from tests.problems import assert_problem
from tests.world import World, add_staff, bearer

SUBSCRIPTIONS = "/api/mobile/push/subscriptions"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def browser_subscription(endpoint: str = "") -> dict[str, Any]:
    """What ``PushSubscription.toJSON()`` gives: a fresh P-256 key and auth secret."""
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return {
        "endpoint": endpoint or f"https://fcm.googleapis.com/fcm/send/{os.urandom(8).hex()}",
        "expirationTime": None,
        "keys": {"p256dh": b64url(point), "auth": b64url(os.urandom(16))},
    }


async def test_the_vapid_key_is_a_p256_point_kept_across_restarts(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    answer = await client.get("/api/mobile/push/vapid-public-key")
    assert answer.status_code == 200
    raw = base64.urlsafe_b64decode(answer.json()["publicKey"] + "==")
    assert len(raw) == 65 and raw[0] == 4
    kept = ctx.settings.data_dir / "vapid_private_key.pem"
    assert kept.exists() and oct(kept.stat().st_mode)[-3:] == "600"


async def test_a_subscription_is_kept_once_per_endpoint_and_follows_new_keys(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    staff = await add_staff(world)
    first = browser_subscription()
    renewed = browser_subscription(first["endpoint"])

    created = await client.post(SUBSCRIPTIONS, json=first, headers=bearer(ctx.signer, staff))
    again = await client.post(SUBSCRIPTIONS, json=renewed, headers=bearer(ctx.signer, staff))

    assert created.status_code == again.status_code == 201
    assert created.json()["id"] == again.json()["id"]
    [kept] = await PushSubscription.select().where(PushSubscription.endpoint == first["endpoint"])
    assert kept["p256dh"] == renewed["keys"]["p256dh"]
    assert str(kept["user_id"]) == staff["id"]


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://fcm.googleapis.com/fcm/send/x",
        "https://127.0.0.1/push",
        "https://169.254.169.254/latest/meta-data",
        "https://evil.example/push",
        "https://fcm.googleapis.com.evil.example/x",
        "https://fcm.googleapis.com:8443/fcm/send/x",
        "https://user@fcm.googleapis.com/fcm/send/x",
        "file:///etc/passwd",
    ],
)
async def test_only_known_push_services_are_taken(
    client: httpx.AsyncClient, ctx: AppContext, world: World, endpoint: str
) -> None:
    answer = await client.post(
        SUBSCRIPTIONS,
        json=browser_subscription(endpoint),
        headers=bearer(ctx.signer, world.staff_a),
    )
    problem = assert_problem(answer, 422, "validation_failed")
    assert [e["field"] for e in problem["errors"]] == ["endpoint"]
    assert await PushSubscription.count().where(PushSubscription.endpoint == endpoint) == 0


async def test_keys_must_be_what_encryption_needs(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    for keys, field in (
        ({"p256dh": b64url(b"\x04" + os.urandom(30)), "auth": b64url(os.urandom(16))}, "p256dh"),
        ({"p256dh": browser_subscription()["keys"]["p256dh"], "auth": b64url(b"x" * 15)}, "auth"),
    ):
        body = browser_subscription() | {"keys": keys}
        answer = await client.post(
            SUBSCRIPTIONS, json=body, headers=bearer(ctx.signer, world.staff_a)
        )
        problem = assert_problem(answer, 422, "validation_failed")
        assert [e["field"] for e in problem["errors"]] == [f"keys.{field}"]


async def test_each_person_deletes_only_their_own(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    staff, other = await add_staff(world), await add_staff(world)
    created = await client.post(
        SUBSCRIPTIONS, json=browser_subscription(), headers=bearer(ctx.signer, staff)
    )
    url = f"{SUBSCRIPTIONS}/{created.json()['id']}"

    assert_problem(
        await client.delete(url, headers=bearer(ctx.signer, other)), 404, "subscription_not_found"
    )
    assert (await client.delete(url, headers=bearer(ctx.signer, staff))).status_code == 204
    assert_problem(
        await client.delete(url, headers=bearer(ctx.signer, staff)), 404, "subscription_not_found"
    )
    assert_problem(
        await client.delete(f"{SUBSCRIPTIONS}/nope", headers=bearer(ctx.signer, staff)),
        404,
        "subscription_not_found",
    )
