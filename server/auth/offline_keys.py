"""Per-device keys for what the app keeps offline (cached job details, the outbox).

The browser seals its offline copy with AES-GCM under a key only the server can give, and
only to a live session. The key is derived, not stored: from the person and the browser's own
device id, so signing in again on the same phone gives the same key back and changes still
waiting in its outbox stay readable, while a revoked phone can no longer fetch it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

KEY_BYTES = 32  # AES-256-GCM


@dataclass(frozen=True, slots=True)
class OfflineKey:
    key: bytes

    @property
    def key_id(self) -> str:
        """Names the key without revealing it, so the app can tell a key change."""
        return hashlib.sha256(b"key-id\0" + self.key).hexdigest()[:16]

    def as_json(self) -> dict[str, str]:
        return {
            "algorithm": "AES-GCM",
            "key": base64.urlsafe_b64encode(self.key).rstrip(b"=").decode(),
            "keyId": self.key_id,
        }


class OfflineKeys:
    def __init__(self, secret: str) -> None:
        self._root = hashlib.blake2b(secret.encode(), key=b"offline-data", digest_size=32).digest()

    def for_device(self, user_id: str, client_id: str) -> OfflineKey:
        message = f"{user_id}\0{client_id}".encode()
        return OfflineKey(hmac.new(self._root, message, hashlib.sha256).digest()[:KEY_BYTES])
