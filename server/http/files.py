"""Answering GETs whose encoded bodies already exist (built assets, rendered manifests and
service workers): pick the variant Accept-Encoding allows, tag it, and answer 304 when the
client has it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from sanic import HTTPResponse, Request

from server.core.answers import Answer
from server.http.negotiation import IDENTITY, choose_encoding, encode, etag_matches, tagged


@dataclass(frozen=True)
class Representation:
    """One resource's bytes in each encoding it has, its type and its caching rule."""

    content_type: str
    cache_control: str
    variants: dict[str, bytes]
    vary: str = "Accept-Encoding"
    validator: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.blake2b(self.variants[IDENTITY], digest_size=12).hexdigest()
        object.__setattr__(self, "validator", digest)

    @classmethod
    def compressed(
        cls, body: bytes, content_type: str, cache_control: str, vary: str
    ) -> Representation:
        """A rendered body, compressed once into each encoding worth having."""
        variants = {IDENTITY: body}
        for encoding in ("br", "gzip"):
            sent, encoded = encode(body, encoding)
            if sent != IDENTITY:
                variants[sent] = encoded
        return cls(content_type, cache_control, variants, vary)


def send_representation_bytes(request: Request, representation: Representation) -> HTTPResponse:
    wanted = choose_encoding(request.headers.get("accept-encoding", ""))
    encoding = wanted if wanted in representation.variants else IDENTITY
    etag = tagged(representation.validator, encoding)
    headers = {
        "ETag": etag,
        "Cache-Control": representation.cache_control,
        "Vary": representation.vary,
    }
    if etag_matches(request.headers.get("if-none-match", ""), etag):
        return Answer(status=304, headers=headers)
    if encoding != IDENTITY:
        headers["Content-Encoding"] = encoding
    return Answer(
        representation.variants[encoding], headers=headers, content_type=representation.content_type
    )
