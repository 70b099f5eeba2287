"""Signed JWTs: short-lived access tokens, rotating refresh tokens and device cookies.

An access token carries what the hot path needs (user, device, role, branch, team) so a feed
request needs no database read to know who is asking. A refresh token carries its device and
generation: the device row holds the one generation that may still be spent. A device cookie
(OWASP's "device cookies") says that this browser or phone once signed in as an account: the
sign-in throttle counts its attempts on a budget of its own (see :mod:`server.auth.throttle`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jwt

from server.core.access import Principal, Role
from server.errors import InvalidToken

ALGORITHM = "HS256"
VERIFIED_TOKENS = 16_384
DEVICE_TOKEN_SECONDS = 365 * 24 * 3600


@dataclass(frozen=True, slots=True)
class RefreshClaims:
    user_id: str
    device_id: str
    generation: int


class TokenSigner:
    """Keys derived per purpose, so an access token can never pass as a refresh token."""

    def __init__(self, secret: str, access_seconds: int, refresh_seconds: int) -> None:
        self._access_key = _derive(secret, "access")
        self._refresh_key = _derive(secret, "refresh")
        self._device_key = _derive(secret, "device")
        self.access_seconds = access_seconds
        self.refresh_seconds = refresh_seconds
        self._verified_access = lru_cache(maxsize=VERIFIED_TOKENS)(self._verify_access)

    def issue_access(self, principal: Principal, issued_at: int | None = None) -> str:
        now = int(time.time()) if issued_at is None else issued_at
        claims = {
            "sub": principal.user_id,
            "dev": principal.device_id,
            "role": principal.role,
            "br": principal.branch_id,
            "tm": principal.team_id,
            "iat": now,
            "exp": now + self.access_seconds,
        }
        return jwt.encode(claims, self._access_key, algorithm=ALGORITHM)

    def issue_refresh(self, user_id: str, device_id: str, generation: int) -> str:
        now = int(time.time())
        claims = {
            "sub": user_id,
            "dev": device_id,
            "gen": generation,
            "iat": now,
            "exp": now + self.refresh_seconds,
        }
        return jwt.encode(claims, self._refresh_key, algorithm=ALGORITHM)

    def issue_device(self, account: str) -> str:
        """A device cookie for ``account`` (an email, casefolded, as the throttle names
        accounts), valid a year; its random nonce keys its own sign-in budget. It names the
        account by a keyed hash: the cookie outlives a sign-out, and whoever reads the phone's
        profile then should not learn who used it."""
        now = int(time.time())
        claims = {
            "sub": self._account_tag(account),
            "dev": secrets.token_urlsafe(16),
            "iat": now,
            "exp": now + DEVICE_TOKEN_SECONDS,
        }
        return jwt.encode(claims, self._device_key, algorithm=ALGORITHM)

    def device_nonce(self, token: str, account: str) -> str | None:
        """The nonce of ``token`` when it is a device cookie of ``account``; None when it is
        another account's. Raises :class:`InvalidToken` when it is forged or expired."""
        claims = _decode(token, self._device_key)
        if not hmac.compare_digest(_text(claims, "sub"), self._account_tag(account)):
            return None
        return _text(claims, "dev")

    def device_cookie_nonce(self, token: str) -> str:
        """The nonce of a device cookie this server issued, whatever its account. Raises
        :class:`InvalidToken` when it is forged or expired."""
        return _text(_decode(token, self._device_key), "dev")

    def _account_tag(self, account: str) -> str:
        return hmac.new(self._device_key, account.encode(), hashlib.sha256).hexdigest()

    def read_access(self, token: str) -> Principal:
        """Verify once, then remember: a phone sends the same token for many minutes, and
        a signature check costs more than the rest of a 304. Expiry is checked every time."""
        principal, expires_at = self._verified_access(token)
        if expires_at <= time.time():
            raise InvalidToken("Token has expired.")
        return principal

    def access_expiry(self, token: str) -> int:
        """When a token that :meth:`read_access` accepted stops working (epoch seconds)."""
        return self._verified_access(token)[1]

    def _verify_access(self, token: str) -> tuple[Principal, int]:
        claims = _decode(token, self._access_key)
        principal = Principal(
            user_id=_text(claims, "sub"),
            device_id=_text(claims, "dev"),
            role=_role(claims),
            branch_id=claims.get("br"),
            team_id=claims.get("tm"),
        )
        return principal, int(claims["exp"])

    def read_refresh(self, token: str) -> RefreshClaims:
        claims = _decode(token, self._refresh_key)
        generation = claims.get("gen")
        if not isinstance(generation, int):
            raise InvalidToken("Refresh token is malformed.")
        return RefreshClaims(_text(claims, "sub"), _text(claims, "dev"), generation)


def secret_digest(secret: str) -> str:
    """What is stored of a high-entropy bearer secret (an API key, a password link's token):
    its SHA-256. A slow password hash would add nothing to 32 random bytes but cost."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _derive(secret: str, purpose: str) -> bytes:
    return hashlib.blake2b(secret.encode(), key=purpose.encode(), digest_size=32).digest()


def _decode(token: str, key: bytes) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "dev"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("Token has expired.") from exc
    except (jwt.PyJWTError, UnicodeError, ValueError) as exc:
        raise InvalidToken("Token is not valid.") from exc
    return claims


def _role(claims: dict[str, Any]) -> Role:
    try:
        return Role(_text(claims, "role"))
    except ValueError as exc:
        raise InvalidToken("Token is malformed.") from exc


def _text(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str):
        raise InvalidToken("Token is malformed.")
    return value
