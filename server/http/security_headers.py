"""The security headers every answer carries.

Everywhere: no MIME sniffing, no ``Referer`` (photo URLs carry their signature), no framing
(clickjacking). The app shell gets a Content Security Policy that lets it load only its own
scripts, styles, images and connections; every other answer that is not a script gets one that
lets nothing run if it is opened as a page (JSON, problems, photos). Scripts get none: a
service worker's policy would govern its own fetches. A ``304`` gets none either: a browser
copies a 304's headers onto the response it kept, and the shell must keep its own policy.
Over https (as the request's scheme says, behind ``PROXIES_COUNT`` proxies) browsers are told
to stay on https for a year. Every answer also carries its request's ``X-Request-ID``
(:mod:`server.http.request_log`).

Not a middleware: with one, Sanic runs the middleware chain for every answer (a few percent
of a 304). The ``endpoint`` decorator secures what a handler returns, the app's error
handler (:func:`secured`) what it renders, and the blueprints whose handlers stream (their
headers leave from inside the handler) secure theirs in a response middleware of their own,
which Sanic runs for their routes only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import lru_cache

from sanic import Request
from sanic.response import BaseHTTPResponse

from server.core.answers import Answer
from server.http.request_log import REQUEST_ID_HEADER, request_id_of


def shell_policy(photo_origins: tuple[str, ...] = ()) -> str:
    """The app shell's policy; with photos in a bucket (``PHOTO_STORE=s3``) the shell also
    uploads to and shows images from the bucket's ``photo_origins``."""
    bucket = "".join(f" {origin}" for origin in photo_origins)
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self'{bucket}",
            f"connect-src 'self'{bucket}",
            "worker-src 'self'",
            "manifest-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


SHELL_POLICY = shell_policy()
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=31536000"
EVERY_ANSWER = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def secure(request: Request, response: BaseHTTPResponse) -> None:
    """Give ``response`` the security headers and its request's id, leaving any a route set
    itself. An :class:`~server.core.answers.Answer` gets them as its head's tail, encoded
    once per kind of answer; any other response (a stream's) in its headers."""
    tail = security_head(policy_for(request, response), is_https(request))
    request_id = (REQUEST_ID_HEADER, request_id_of(request))
    if isinstance(response, Answer):
        response.tail = (request_id, *tail)
        return
    headers = response.headers
    headers[REQUEST_ID_HEADER] = request_id[1]
    for name, value in tail:
        headers.setdefault(name, value)


def secured(render: ErrorRenderer) -> ErrorRenderer:
    """``render`` (the app's error handler), whose answers carry the security headers."""

    async def render_secured(request: Request, exc: Exception) -> BaseHTTPResponse:
        response = await render(request, exc)
        secure(request, response)
        return response

    return render_secured


ErrorRenderer = Callable[[Request, Exception], Awaitable[BaseHTTPResponse]]


@lru_cache(maxsize=8)
def security_head(policy: str | None, https: bool) -> tuple[tuple[str, str], ...]:
    """The security headers of one kind of answer: its policy, and HSTS over https."""
    head = list(EVERY_ANSWER.items())
    if policy:
        head.append(("Content-Security-Policy", policy))
    if https:
        head.append(("Strict-Transport-Security", HSTS))
    return tuple(head)


def is_https(request: Request) -> bool:
    """Whether the client came over https, worked out once per connection: Sanic's
    ``request.scheme`` parses every forwarded header of every request (7% of a 304's time).
    Behind proxies a pooled upstream connection may carry clients of either scheme, so there
    it is worked out again whenever the proxy's scheme headers differ from the last request's."""
    connection = request.conn_info
    if connection is None:
        return request.scheme == "https"
    known = connection.ctx.__dict__.get("https_when")
    if known is DIRECT:
        return bool(connection.ssl)
    headers = request.headers
    said = (headers.get("x-forwarded-proto"), headers.get("x-scheme"), headers.get("forwarded"))
    if known is not None and known[0] == said:
        return bool(known[1])
    config = request.app.config
    if not config.PROXIES_COUNT and not config.FORWARDED_SECRET:
        connection.ctx.https_when = DIRECT
        return bool(connection.ssl)
    https = request.scheme == "https"
    connection.ctx.https_when = (said, https)
    return https


DIRECT = ("direct",)
"""A connection with no proxy in front: its own transport says."""


def policy_for(request: Request, response: BaseHTTPResponse) -> str | None:
    """The shell's policy for a page (the app's ``SHELL_POLICY``, see the factory), none for
    a 304 or a script, the API's for everything else."""
    media_type = (response.content_type or "").split(";")[0].strip().lower()
    if response.status == 304 or "javascript" in media_type:
        return None
    if media_type == "text/html":
        page_policy: str = request.app.config.get("SHELL_POLICY", SHELL_POLICY)
        return page_policy
    return API_POLICY
