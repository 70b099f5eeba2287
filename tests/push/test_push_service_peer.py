"""The fake push service against pywebpush, the library the server sends with."""

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid02
from pywebpush import WebPushException, webpush_async

from tests.push.push_service import Answer, PushService, b64url

SUB = "mailto:ops@tinedy.example"
MESSAGE = {"kind": "job.assigned", "job_id": 42, "title": "Deep clean, 3 rooms"}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def vapid() -> Any:
    """The application server's VAPID key, made fresh so no test can pass with a stale one."""
    key = Vapid02()
    key.generate_keys()
    return key


def public_key(vapid: Any) -> str:
    point = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(point)


async def send(
    subscription: dict[str, Any],
    session: aiohttp.ClientSession,
    vapid: Any,
    **overrides: Any,
) -> aiohttp.ClientResponse:
    """One push through pywebpush as the server sends it; ``overrides`` replace its arguments."""
    arguments: dict[str, Any] = {
        "data": json.dumps(MESSAGE),
        "vapid_private_key": vapid,
        "vapid_claims": {"sub": SUB},
        "ttl": 60,
        "timeout": aiohttp.ClientTimeout(total=5),
        "aiohttp_session": session,
        **overrides,
    }
    response: aiohttp.ClientResponse = await webpush_async(subscription, **arguments)
    return response


async def test_message_is_decrypted_and_its_headers_and_claims_kept(
    push_service: PushService, session: aiohttp.ClientSession, vapid: Any
) -> None:
    push_service.vapid_public_key = public_key(vapid)
    subscription = push_service.new_subscription()

    response = await send(
        subscription, session, vapid, headers={"Urgency": "high", "Topic": "job-42"}
    )

    assert response.status == 201
    assert response.headers["Location"].startswith(f"{push_service.origin}/message/")
    [received] = await push_service.wait_for(1)
    assert received.error is None
    assert received.endpoint == subscription["endpoint"]
    assert (received.ttl, received.urgency, received.topic) == (60, "high", "job-42")
    assert received.content_encoding == "aes128gcm"
    assert received.payload_json == MESSAGE
    assert received.claims is not None
    assert received.claims["aud"] == push_service.origin
    assert received.claims["sub"] == SUB
    assert push_service.accepted() == [received]


async def test_message_signed_by_another_key_is_refused_with_the_reason(
    push_service: PushService, session: aiohttp.ClientSession, vapid: Any
) -> None:
    push_service.vapid_public_key = public_key(vapid)
    impostor = Vapid02()
    impostor.generate_keys()

    with pytest.raises(WebPushException) as refused:
        await send(push_service.new_subscription(), session, impostor)

    assert refused.value.response.status == 400
    assert "not the application server key" in refused.value.message
    [received] = await push_service.wait_for(1)
    assert received.status == 400
    assert received.error is not None and "not the application server key" in received.error
    assert received.payload is None and push_service.accepted() == []


async def test_token_signed_by_another_key_than_k_is_refused(
    push_service: PushService, session: aiohttp.ClientSession, vapid: Any
) -> None:
    push_service.vapid_public_key = public_key(vapid)
    forger = Vapid02()
    forger.generate_keys()
    claims = {"sub": SUB, "aud": push_service.origin, "exp": int(time.time()) + 3600}
    signed = forger.sign(claims)["Authorization"]
    forged = signed.replace(public_key(forger), public_key(vapid))

    with pytest.raises(WebPushException) as refused:
        await send(
            push_service.new_subscription(),
            session,
            vapid,
            vapid_claims=None,
            headers={"Authorization": forged},
        )

    assert refused.value.response.status == 400
    assert "signature does not verify" in refused.value.message


REFUSALS = [
    pytest.param({"headers": {"TTL": "-1"}, "ttl": 0}, 400, "TTL must be", id="negative-ttl"),
    pytest.param({"headers": {"Urgency": "urgent"}}, 400, "Urgency must be", id="bad-urgency"),
    pytest.param({"headers": {"Topic": "t" * 33}}, 400, "Topic must be", id="long-topic"),
    pytest.param({"headers": {"Topic": "job 42"}}, 400, "Topic must be", id="topic-with-space"),
    pytest.param({"content_encoding": "aesgcm"}, 400, "must be aes128gcm", id="old-aesgcm"),
    pytest.param({"data": "x" * 5000}, 413, "over 4096", id="too-big"),
    pytest.param({"vapid_claims": None}, 400, "Authorization must be", id="no-vapid"),
    pytest.param(
        {"vapid_claims": {"sub": SUB, "exp": int(time.time()) + 25 * 3600}},
        400,
        "exp must be within the next 24 hours",
        id="exp-beyond-24h",
    ),
    pytest.param(
        {"vapid_claims": {"sub": SUB, "aud": "https://elsewhere.example"}},
        400,
        "aud must be",
        id="other-aud",
    ),
]


@pytest.mark.parametrize(("overrides", "status", "reason"), REFUSALS)
async def test_message_breaking_the_protocol_is_refused(
    push_service: PushService,
    session: aiohttp.ClientSession,
    vapid: Any,
    overrides: dict[str, Any],
    status: int,
    reason: str,
) -> None:
    with pytest.raises(WebPushException) as refused:
        await send(push_service.new_subscription(), session, vapid, **overrides)

    assert refused.value.response.status == status
    assert reason in refused.value.message
    [received] = await push_service.wait_for(1)
    assert (received.status, received.payload) == (status, None)


async def test_scripted_answers_come_back_in_order_then_201(
    push_service: PushService, session: aiohttp.ClientSession, vapid: Any
) -> None:
    subscription = push_service.new_subscription()
    push_service.script(subscription["endpoint"], [Answer(429, retry_after=7), 410])

    with pytest.raises(WebPushException) as throttled:
        await send(subscription, session, vapid)
    with pytest.raises(WebPushException) as gone:
        await send(subscription, session, vapid)
    response = await send(subscription, session, vapid)

    assert throttled.value.response.status == 429
    assert throttled.value.retry_after == "7"
    assert gone.value.response.status == 410
    assert response.status == 201
    received = await push_service.wait_for(3)
    assert [message.status for message in received] == [429, 410, 201]
    assert all(message.payload_json == MESSAGE for message in received)


async def test_waiting_for_more_than_arrives_fails_with_what_did(push_service: PushService) -> None:
    with pytest.raises(AssertionError, match="got 0 of 1 messages"):
        await push_service.wait_for(1, timeout=0.05)
