"""Standard Webhooks signatures (https://www.standardwebhooks.com), made by the
``standardwebhooks`` library the receivers verify with.

A secret is ``whsec_`` and the base64 of 24 random bytes. Each delivery is signed over
``<webhook-id>.<webhook-timestamp>.<body>`` (HMAC-SHA256). After a rotation the old secret
signs too, beside the new one, until the overlap ends (``webhook-signature: v1,<new>
v1,<old>``): a receiver verifies with either while it changes over.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime
from typing import Any

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def message_id(event_id: int) -> str:
    """The ``webhook-id``: one per event, the same on every retry and replay, so a receiver
    that saw it already can drop the repeat."""
    return f"evt_{event_id}"


def signing_secrets(endpoint: dict[str, Any], now: datetime) -> list[str]:
    """The endpoint's secret, and its previous one while the rotation overlap lasts."""
    kept = [endpoint["secret"]]
    until = endpoint.get("previous_secret_until")
    if endpoint.get("previous_secret") and until is not None and until > now:
        kept.append(endpoint["previous_secret"])
    return kept


def signed_headers(
    secrets_in_use: list[str], event_id: int, body: bytes, now: datetime
) -> dict[str, str]:
    """The headers of one try: its id, its time (the receiver refuses one over 5 minutes
    off) and a signature per secret in use."""
    msg_id = message_id(event_id)
    signatures = [Webhook(secret).sign(msg_id, now, body) for secret in secrets_in_use]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
        "Content-Type": "application/json",
    }
