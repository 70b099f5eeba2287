"""Signed photo links: single-photo upload URLs, and expiring URLs for stored photos.

An upload URL is the whole permission to send bytes for one photo (like a presigned S3 URL):
it names the photo, its job, the person and their device, the declared type and the size
allowed, and when it lapses. It is read before the upload's body (one HMAC, no database), and
the device and person it names spend their own upload budgets, as when signed in. A served
URL names a content-addressed object and an expiry rounded up to the hour, so one photo keeps
one URL for an hour and a CDN can hold it; the signature covers both.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass, replace
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeSerializer

from server.errors import LinkExpired, SignatureInvalid

UPLOAD_PATH = "/api/mobile/photos/uploads/"
MEDIA_PATH = "/media/"
EXPIRY_STEP = 3600


@dataclass(frozen=True, slots=True)
class UploadGrant:
    """Who may send which photo's bytes, until when; their role and branch let the upload
    check they may still see the job (a reassignment ends the grant). ``device_id`` comes
    last, so a URL made before grants named it still reads (it lapses within
    ``PHOTO_UPLOAD_URL_SECONDS``)."""

    photo_id: str
    job_id: str
    user_id: str
    role: str
    branch_id: str | None
    content_type: str
    max_bytes: int
    expires_at: int  # unix seconds
    device_id: str = ""


class PhotoLinks:
    def __init__(self, secret: str, url_seconds: int) -> None:
        self._uploads = URLSafeSerializer(secret, salt="photo-upload")
        self._media_key = hashlib.blake2b(
            secret.encode(), key=b"photo-media", digest_size=32
        ).digest()
        self.url_seconds = url_seconds

    def upload_url(self, grant: UploadGrant) -> str:
        token = self._uploads.dumps(
            [
                grant.photo_id,
                grant.job_id,
                grant.user_id,
                grant.role,
                grant.branch_id,
                grant.content_type,
                grant.max_bytes,
                grant.expires_at,
                grant.device_id,
            ]
        )
        return UPLOAD_PATH + token

    def read_upload(self, token: str, now: float) -> UploadGrant:
        try:
            fields = self._uploads.loads(token)
            grant = UploadGrant(*fields)
        except (BadSignature, TypeError, ValueError) as exc:
            raise SignatureInvalid() from exc
        if now >= grant.expires_at:
            raise LinkExpired("Ask for a new upload URL.")
        if not grant.device_id:  # made before grants named it: a budget of its own, not one shared
            return replace(grant, device_id=grant.photo_id)
        return grant

    def expiry(self, now: float) -> int:
        """When URLs made at ``now`` expire: the same for an hour, so a photo keeps one URL."""
        return math.ceil((now + self.url_seconds) / EXPIRY_STEP) * EXPIRY_STEP

    def media_url(self, key: str, now: float) -> str:
        expires = self.expiry(now)
        return f"{MEDIA_PATH}{quote(key)}?exp={expires}&sig={self._signature(key, expires)}"

    def check_media(self, key: str, expires: str, signature: str, now: float) -> None:
        if not (expires.isascii() and expires.isdigit() and len(expires) <= 12):
            raise SignatureInvalid()
        if not hmac.compare_digest(signature, self._signature(key, int(expires))):
            raise SignatureInvalid()
        if now >= int(expires):
            raise LinkExpired("Reload the job for fresh photo links.")

    def _signature(self, key: str, expires: int) -> str:
        message = f"{key}\0{expires}".encode()
        return hmac.new(self._media_key, message, hashlib.sha256).hexdigest()[:32]
