"""A Web Push service on loopback that checks what a real one checks (tests only).

The server under test sends to it exactly as it sends to a browser vendor's push service:
RFC 8030 messages with a ``TTL``, payloads encrypted with aes128gcm for one subscription's keys
(RFC 8291), and a VAPID ``Authorization`` signed by the application server's key (RFC 8292).
Each message is verified, decrypted and kept as a ``Received``; a message that breaks the
protocol is answered 400 with the reason, so a test sees why. A well-formed message gets the
next answer scripted for its subscription (``Answer``), or 201 when there is none.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import http_ece
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from yarl import URL

MAX_BODY_BYTES = 4096  # RFC 8030 section 7.2: the least a push service must accept
MAX_VAPID_LIFETIME_SECONDS = 24 * 60 * 60  # RFC 8292 section 2
URGENCIES = frozenset({"very-low", "low", "normal", "high"})  # RFC 8030 section 5.3
TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")  # RFC 8030 section 5.4
TTL = re.compile(r"[0-9]+")  # RFC 8030 section 5.2: delta-seconds
SCRIPTABLE_STATUSES = frozenset({201, 307, 400, 404, 410, 413, 429, 500})


def b64url(data: bytes) -> str:
    """Base64url without padding, as Web Push writes keys and tokens."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class BrowserKeys:
    """A subscription's keys, made as a browser makes them: a P-256 pair and an auth secret."""

    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes

    @classmethod
    def generate(cls) -> BrowserKeys:
        return cls(ec.generate_private_key(ec.SECP256R1()), os.urandom(16))

    @property
    def p256dh(self) -> str:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(point)

    @property
    def auth(self) -> str:
        return b64url(self.auth_secret)


@dataclass(frozen=True)
class Answer:
    """What the service answers a well-formed message; ``retry_after`` is sent only with 429."""

    status: int
    retry_after: int = 1

    def __post_init__(self) -> None:
        if self.status not in SCRIPTABLE_STATUSES:
            raise ValueError(f"a push service does not answer {self.status} here")


@dataclass(frozen=True)
class Received:
    """One message as the service saw it; ``error`` is why it was refused, if it was."""

    token: str
    endpoint: str
    ttl: int | None
    urgency: str | None
    topic: str | None
    content_encoding: str | None
    payload: bytes | None
    payload_json: Any
    claims: dict[str, Any] | None
    status: int
    error: str | None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


class Refusal(Exception):
    """A message a real push service would refuse, with the status it answers."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class Opened:
    """A message that passed every check: its VAPID claims and decrypted payload."""

    claims: dict[str, Any]
    payload: bytes | None


class PushService:
    """The push service, serving on 127.0.0.1 at a free port while its ``async with`` lasts.

    ``vapid_public_key`` (base64url, as the application server publishes it) makes the service
    refuse messages signed by any other key; ``delay`` holds every answer back that many seconds.
    """

    def __init__(self, vapid_public_key: str | None = None) -> None:
        self.vapid_public_key = vapid_public_key
        self.delay = 0.0
        self.received: list[Received] = []
        self._keys: dict[str, BrowserKeys] = {}
        self._scripts: dict[str, deque[Answer]] = {}
        self._arrivals = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._origin: str | None = None

    async def __aenter__(self) -> PushService:
        app = web.Application()
        app.router.add_post("/push/{token}", self._push)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self._origin = f"http://{host}:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``: the origin of every endpoint, and the VAPID ``aud``."""
        if self._origin is None:
            raise RuntimeError("the push service is not started: use `async with`")
        return self._origin

    def new_subscription(self, answers: Iterable[int | Answer] = ()) -> dict[str, Any]:
        """What a browser's ``PushSubscription.toJSON()`` gives, with ``answers`` scripted."""
        token = uuid.uuid4().hex
        keys = self._keys[token] = BrowserKeys.generate()
        endpoint = f"{self.origin}/push/{token}"
        self.script(endpoint, answers)
        return {
            "endpoint": endpoint,
            "expirationTime": None,
            "keys": {"p256dh": keys.p256dh, "auth": keys.auth},
        }

    def script(self, endpoint: str, answers: Iterable[int | Answer]) -> None:
        """Queue answers for the next well-formed messages to ``endpoint``; then 201 again."""
        queue = self._scripts.setdefault(_token(endpoint), deque())
        queue.extend(answer if isinstance(answer, Answer) else Answer(answer) for answer in answers)

    def accepted(self) -> list[Received]:
        return [message for message in self.received if message.status == 201]

    # A deadline argument reads better in tests than an asyncio.timeout around every wait.
    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:  # noqa: ASYNC109
        """Every message answered so far, once there are at least ``count``."""
        try:
            async with asyncio.timeout(timeout), self._arrivals:
                await self._arrivals.wait_for(lambda: len(self.received) >= count)
        except TimeoutError:
            raise AssertionError(
                f"the push service got {len(self.received)} of {count} messages"
                f" within {timeout}s: {self.received}"
            ) from None
        return list(self.received)

    async def _push(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        body = await request.read()
        try:
            opened = self._open(token, request.headers, body)
            answer, error = self._next_answer(token), None
        except Refusal as refusal:
            opened, answer, error = None, Answer(refusal.status), refusal.reason
        await asyncio.sleep(self.delay)
        await self._record(_received(token, self.origin, request.headers, opened, answer, error))
        return web.Response(
            status=answer.status, text=error, headers=self._headers(answer, request.url)
        )

    def _open(self, token: str, headers: Mapping[str, str], body: bytes) -> Opened:
        keys = self._keys.get(token)
        if keys is None:
            raise Refusal("no such subscription", status=404)
        _check_headers(headers)
        claims = _check_vapid(headers.get("Authorization"), self.origin, self.vapid_public_key)
        return Opened(claims, _decrypt(body, headers.get("Content-Encoding"), keys))

    def _next_answer(self, token: str) -> Answer:
        script = self._scripts.get(token)
        return script.popleft() if script else Answer(201)

    def _headers(self, answer: Answer, url: URL) -> dict[str, str]:
        if answer.status == 307:  # a sender that follows it posts the same message again
            return {"Location": str(url)}
        if answer.status == 201:
            return {"Location": f"{self.origin}/message/{uuid.uuid4().hex}"}
        if answer.status == 429:
            return {"Retry-After": str(answer.retry_after)}
        return {}

    async def _record(self, received: Received) -> None:
        async with self._arrivals:
            self.received.append(received)
            self._arrivals.notify_all()


def _token(endpoint: str) -> str:
    return endpoint.rsplit("/", 1)[-1]


def _received(
    token: str,
    origin: str,
    headers: Mapping[str, str],
    opened: Opened | None,
    answer: Answer,
    error: str | None,
) -> Received:
    payload = opened.payload if opened else None
    return Received(
        token=token,
        endpoint=f"{origin}/push/{token}",
        ttl=_ttl(headers),
        urgency=headers.get("Urgency"),
        topic=headers.get("Topic"),
        content_encoding=headers.get("Content-Encoding"),
        payload=payload,
        payload_json=_json_or_none(payload),
        claims=opened.claims if opened else None,
        status=answer.status,
        error=error,
    )


def _ttl(headers: Mapping[str, str]) -> int | None:
    ttl = headers.get("TTL")
    return int(ttl) if ttl is not None and TTL.fullmatch(ttl) else None


def _json_or_none(payload: bytes | None) -> Any:
    try:
        return json.loads(payload) if payload else None
    except ValueError:
        return None


def _check_headers(headers: Mapping[str, str]) -> None:
    """RFC 8030 section 5: TTL is required; Urgency and Topic are optional but constrained."""
    if _ttl(headers) is None:
        raise Refusal(f"TTL must be a non-negative integer, got {headers.get('TTL')!r}")
    urgency = headers.get("Urgency")
    if urgency is not None and urgency not in URGENCIES:
        raise Refusal(f"Urgency must be one of {sorted(URGENCIES)}, got {urgency!r}")
    topic = headers.get("Topic")
    if topic is not None and not TOPIC.fullmatch(topic):
        raise Refusal(f"Topic must be 1-32 base64url characters, got {topic!r}")


def _check_vapid(
    authorization: str | None, audience: str, expected_key: str | None
) -> dict[str, Any]:
    """The VAPID claims, once the token is signed by ``k`` and ``k`` is the expected key."""
    token, key = _vapid_credentials(authorization)
    if expected_key is not None and b64url_decode(key) != b64url_decode(expected_key):
        raise Refusal(f"VAPID key k={key} is not the application server key {expected_key}")
    claims = _verified_claims(token, key)
    _check_claims(claims, audience)
    return claims


def _vapid_credentials(authorization: str | None) -> tuple[str, str]:
    """``t`` and ``k`` of ``Authorization: vapid t=<JWT>, k=<public key>``."""
    match = re.fullmatch(r"vapid\s+(.+)", authorization or "", re.IGNORECASE)
    if match is None:
        raise Refusal(f"Authorization must be 'vapid t=..., k=...', got {authorization!r}")
    params: dict[str, str] = {}
    for param in match[1].split(","):
        name, _, value = param.strip().partition("=")
        params[name] = value
    if not params.get("t") or not params.get("k"):
        raise Refusal(f"Authorization needs both t and k, got {authorization!r}")
    return params["t"], params["k"]


def _verified_claims(token: str, key: str) -> dict[str, Any]:
    """The JWT's claims, after checking it is ES256 and signed by ``key``."""
    try:
        public_key = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), b64url_decode(key)
        )
        header_part, claims_part, signature_part = token.split(".")
        header = json.loads(b64url_decode(header_part))
        claims = json.loads(b64url_decode(claims_part))
        signature = b64url_decode(signature_part)
    except ValueError as error:
        raise Refusal(f"VAPID t is not a JWT or k is not a P-256 key: {error}") from None
    if not isinstance(header, dict) or header.get("alg") != "ES256":
        raise Refusal(f"VAPID JWT must be ES256, its header is {header!r}")
    if not isinstance(claims, dict):
        raise Refusal(f"VAPID JWT claims must be an object, got {claims!r}")
    _verify_es256(public_key, f"{header_part}.{claims_part}".encode(), signature)
    return claims


def _verify_es256(public_key: ec.EllipticCurvePublicKey, signed: bytes, signature: bytes) -> None:
    """A JWS ES256 signature is raw r||s; cryptography wants it DER-encoded."""
    if len(signature) != 64:
        raise Refusal(f"VAPID JWT signature is {len(signature)} bytes, not 64 (r||s)")
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    try:
        public_key.verify(utils.encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise Refusal("VAPID JWT signature does not verify with k") from None


def _check_claims(claims: dict[str, Any], audience: str) -> None:
    if claims.get("aud") != audience:
        raise Refusal(f"VAPID aud must be {audience}, got {claims.get('aud')!r}")
    exp, now = claims.get("exp"), time.time()
    if not isinstance(exp, int | float) or not now < exp <= now + MAX_VAPID_LIFETIME_SECONDS:
        raise Refusal(f"VAPID exp must be within the next 24 hours, got {exp!r}")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.startswith(("mailto:", "https:")):
        raise Refusal(f"VAPID sub must be a mailto: or https: URL, got {sub!r}")


def _decrypt(body: bytes, content_encoding: str | None, keys: BrowserKeys) -> bytes | None:
    """The plaintext of an aes128gcm body (RFC 8291); None for a message with no payload."""
    if not body:
        return None
    if content_encoding != "aes128gcm":
        raise Refusal(f"Content-Encoding must be aes128gcm, got {content_encoding!r}")
    if len(body) > MAX_BODY_BYTES:
        raise Refusal(f"body is {len(body)} bytes, over {MAX_BODY_BYTES}", status=413)
    try:
        payload: bytes = http_ece.decrypt(
            body, private_key=keys.private_key, auth_secret=keys.auth_secret, version="aes128gcm"
        )
    except (http_ece.ECEException, ValueError) as error:
        raise Refusal(f"body does not decrypt for this subscription: {error}") from None
    return payload
