"""Reading JSON requests into typed models, and writing JSON responses with their validators.

Every JSON GET leaves through :func:`send_representation`: an ETag per encoding, 304 on a
matching If-None-Match, negotiated compression, ``Cache-Control: private, no-cache`` (per-user
data, always revalidated) and the ``Vary`` headers a shared cache needs to keep users apart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import parse_qs

import orjson
from pydantic import BaseModel, ValidationError
from sanic import HTTPResponse, Request

from server.core.answers import Answer
from server.core.timing import encode_time
from server.errors import MalformedJson, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from server.http.negotiation import (
    IDENTITY,
    Encoded,
    choose_encoding,
    encode,
    etag_matches,
    tagged,
)
from server.http.representations import RepresentationCache

ModelT = TypeVar("ModelT", bound=BaseModel)

JSON_TYPE = "application/json"
PRIVATE_HEADERS = {
    "Cache-Control": "private, no-cache",
    "Vary": "Accept-Encoding, Authorization, Cookie",
}


def read_json(request: Request, model: type[ModelT], max_bytes: int | None = None) -> ModelT:
    """Parse and validate the body: 413 when over ``max_bytes`` (default: the app's
    ``JSON_MAX_SIZE``), 415 for non-JSON, 400 for broken JSON, 422 for bad fields. (Sanic
    refuses a body over ``REQUEST_MAX_SIZE``, the largest of all routes' limits, before
    reading it; this check holds each route to its own.)"""
    limit = max_bytes or request.app.config.JSON_MAX_SIZE
    if len(request.body or b"") > limit:
        raise PayloadTooLarge(f"Bodies are limited to {limit} bytes here.")
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != JSON_TYPE:
        raise UnsupportedMediaType("Send the body as application/json.")
    try:
        data = orjson.loads(request.body or b"")
    except orjson.JSONDecodeError as exc:
        raise MalformedJson(f"Body is not valid JSON: {exc.msg}.") from exc
    return validate(model, data)


def query_args(request: Request) -> dict[str, str]:
    """The query string's arguments, each its first value (blank ones kept)."""
    query = parse_qs(request.query_string, keep_blank_values=True, errors="replace")
    return {key: values[0] for key, values in query.items()}


def read_query(request: Request, model: type[ModelT]) -> ModelT:
    """The query string, validated (a 422 naming each bad argument)."""
    return validate(model, query_args(request))


def validate(model: type[ModelT], data: Any) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(
            [(".".join(str(p) for p in err["loc"]) or "body", err["msg"]) for err in exc.errors()]
        ) from exc


def dump_json(data: Any) -> bytes:
    """Serialise a response body, counted as ``encode`` in Server-Timing."""
    with encode_time():
        return orjson.dumps(data)


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> HTTPResponse:
    """A JSON answer that is not a cacheable GET (a login, a created thing)."""
    return Answer(
        dump_json(data),
        status=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
        content_type=JSON_TYPE,
    )


async def send_representation(
    request: Request,
    cache: RepresentationCache,
    validator: str,
    build: Callable[[], Awaitable[bytes]],
) -> HTTPResponse:
    """Answer a GET whose content is fully named by ``validator``, from the cache.

    The 304 path costs a hash and a string compare: nothing is built or compressed.
    """
    return await _conditional_get(
        request, validator, lambda encoding: cache.get_or_build(validator, encoding, build)
    )


async def send_json_get(request: Request, data: Any) -> HTTPResponse:
    """A JSON GET whose validator is the hash of its own bytes (for small, uncached bodies)."""
    body = dump_json(data)

    async def encoded(encoding: str) -> Encoded:
        return encode(body, encoding)

    validator = hashlib.blake2b(body, digest_size=12).hexdigest()
    return await _conditional_get(request, validator, encoded)


async def _conditional_get(
    request: Request, validator: str, produce: Callable[[str], Awaitable[Encoded]]
) -> HTTPResponse:
    encoding = choose_encoding(request.headers.get("accept-encoding", ""))
    etag = tagged(validator, encoding)
    headers = {**PRIVATE_HEADERS, "ETag": etag}
    if etag_matches(request.headers.get("if-none-match", ""), etag):
        return Answer(status=304, headers=headers)
    sent_encoding, body = await produce(encoding)
    if sent_encoding != IDENTITY:
        headers["Content-Encoding"] = sent_encoding
    return Answer(body, headers=headers, content_type=JSON_TYPE)


@lru_cache(maxsize=4096)
def validator_of(*parts: str) -> str:
    """The hash naming a representation's content (phones ask for the same few again and
    again, so each is hashed once)."""
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=12).hexdigest()
