"""Web Push subscriptions as a browser hands them over, checked before they are kept.

The endpoint is where the server will send requests, so it must be ``https`` on a known push
service (``PUSH_SERVICE_HOSTS``, ``*.`` for a domain's subdomains): otherwise a subscription
could point the server at an internal address. The keys must be what RFC 8291 encryption
needs: a P-256 public key (65 bytes, uncompressed) and a 16-byte auth secret.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from server.core.access import Principal
from server.core.inputs import Input, as_uuid
from server.db.engine import write_transaction
from server.errors import SubscriptionNotFound, ValidationFailed
from server.push import subscription_queries as push_queries

P256DH_BYTES = 65
AUTH_BYTES = 16


class SubscriptionKeys(Input):
    p256dh: str = Field(max_length=100)
    auth: str = Field(max_length=40)

    @field_validator("p256dh")
    @classmethod
    def _a_p256_point(cls, value: str) -> str:
        raw = _base64url(value)
        if len(raw) != P256DH_BYTES or raw[0] != 4:
            raise ValueError("must be an uncompressed P-256 public key (65 bytes, base64url)")
        return value

    @field_validator("auth")
    @classmethod
    def _sixteen_bytes(cls, value: str) -> str:
        if len(_base64url(value)) != AUTH_BYTES:
            raise ValueError("must be 16 bytes, base64url")
        return value


class NewSubscription(Input):
    """A browser's ``PushSubscription.toJSON()``."""

    endpoint: str = Field(max_length=1024)
    expiration_time: float | None = None
    keys: SubscriptionKeys


def allowed_endpoint(endpoint: str, hosts: tuple[str, ...]) -> bool:
    """``https`` on a push service host from the allow-list (no port, no credentials), or
    on an origin the allow-list names whole (a push service of one's own, or a test's)."""
    parts = urlsplit(endpoint)
    host = (parts.hostname or "").lower()
    if not host or parts.username or parts.password:
        return False
    try:
        origin = f"{parts.scheme}://{host}:{parts.port}" if parts.port else ""
    except ValueError:
        return False
    if origin and origin in hosts:
        return True
    if parts.scheme != "https" or parts.port not in (None, 443):
        return False
    return any(
        host == allowed or (allowed.startswith("*.") and host.endswith(allowed[1:]))
        for allowed in hosts
    )


def _base64url(value: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError("must be base64url") from exc


async def subscribe(
    principal: Principal, subscription: NewSubscription, hosts: tuple[str, ...]
) -> str:
    """Keep the caller's subscription; its id (the same for the same endpoint)."""
    if not allowed_endpoint(subscription.endpoint, hosts):
        raise ValidationFailed(
            [("endpoint", "must be an https URL of a known push service (PUSH_SERVICE_HOSTS)")]
        )
    row = {
        "id": str(uuid.uuid4()),
        "user_id": principal.user_id,
        "device_id": as_uuid(principal.device_id),
        "endpoint": subscription.endpoint,
        "p256dh": subscription.keys.p256dh,
        "auth": subscription.keys.auth,
    }
    async with write_transaction():
        return await push_queries.save_subscription(row, datetime.now(UTC))


async def unsubscribe(principal: Principal, subscription_id: str) -> None:
    async with write_transaction():
        if not await push_queries.delete_subscription(subscription_id, principal.user_id):
            raise SubscriptionNotFound()
