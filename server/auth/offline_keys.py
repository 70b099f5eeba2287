"""Per-device keys for what the app keeps offline (cached job details, the outbox).

The browser seals its offline copy with AES-GCM under a key only the server can give, and
only to a live session. The key is derived, not stored: from the person and the browser's own
device id, so signing in again on the same phone gives the same key back and changes still
waiting in its outbox stay readable, while a revoked phone can no longer fetch it.

Each answer says when the server issued it (``issuedAt``): the app measures how long it may
show kept data with no signal from that moment (48 hours), not from the phone's own clock,
and keeps it sealed under the key itself (cdn/src/seal.js). It also names whose key it is, so
the app binds what it seals to that person.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

KEY_BYTES = 32  # AES-256-GCM


@dataclass(frozen=True, slots=True)
class OfflineKey:
    key: bytes
    user_id: str
    issued_at: datetime

    @property
    def key_id(self) -> str:
        """Names the key without revealing it, so the app can tell a key change."""
        return hashlib.sha256(b"key-id\0" + self.key).hexdigest()[:16]

    def as_json(self) -> dict[str, str]:
        """The answer of ``GET /api/mobile/auth/offline-key``."""
        return {
            "algorithm": "AES-GCM",
            "key": base64.urlsafe_b64encode(self.key).rstrip(b"=").decode(),
            "keyId": self.key_id,
            "userId": self.user_id,
            "issuedAt": self.issued_at.isoformat(timespec="milliseconds"),
        }


class OfflineKeys:
    def __init__(self, secret: str) -> None:
        self._root = hashlib.blake2b(secret.encode(), key=b"offline-data", digest_size=32).digest()

    def for_device(self, user_id: str, client_id: str) -> OfflineKey:
        message = f"{user_id}\0{client_id}".encode()
        key = hmac.new(self._root, message, hashlib.sha256).digest()[:KEY_BYTES]
        return OfflineKey(key, user_id, datetime.now(UTC))
