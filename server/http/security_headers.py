"""The security headers every answer carries (a response middleware).

Everywhere: no MIME sniffing, no ``Referer`` (photo URLs carry their signature), no framing
(clickjacking). The app shell gets a Content Security Policy that lets it load only its own
scripts, styles, images and connections; every other answer that is not a script gets one that
lets nothing run if it is opened as a page (JSON, problems, photos). Scripts get none: a
service worker's policy would govern its own fetches. A ``304`` gets none either: a browser
copies a 304's headers onto the response it kept, and the shell must keep its own policy.
Over https (as the request's scheme says, behind ``PROXIES_COUNT`` proxies) browsers are told
to stay on https for a year. Every answer also carries its request's ``X-Request-ID``
(:mod:`server.http.request_log`).
"""

from __future__ import annotations

from sanic import Request
from sanic.response import BaseHTTPResponse

from server.http.request_log import REQUEST_ID_HEADER, request_id_of

SHELL_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "worker-src 'self'",
        "manifest-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=31536000"
EVERY_ANSWER = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def add_security_headers(request: Request, response: BaseHTTPResponse) -> None:
    headers = response.headers
    headers[REQUEST_ID_HEADER] = request_id_of(request)
    for name, value in EVERY_ANSWER.items():
        headers.setdefault(name, value)
    policy = policy_for(response)
    if policy:
        headers.setdefault("Content-Security-Policy", policy)
    if is_https(request):
        headers.setdefault("Strict-Transport-Security", HSTS)


def is_https(request: Request) -> bool:
    """Whether the client came over https, worked out once per connection: Sanic's
    ``request.scheme`` parses every forwarded header of every request (7% of a 304's time).
    Behind proxies a pooled upstream connection may carry clients of either scheme, so there
    it is worked out again whenever the proxy's scheme headers differ from the last request's."""
    connection = request.conn_info
    if connection is None:
        return request.scheme == "https"
    if not request.app.config.PROXIES_COUNT and not request.app.config.FORWARDED_SECRET:
        return bool(connection.ssl)
    headers = request.headers
    said = (headers.get("x-forwarded-proto"), headers.get("x-scheme"), headers.get("forwarded"))
    known = getattr(connection.ctx, "https_when", None)
    if known is not None and known[0] == said:
        return bool(known[1])
    https = request.scheme == "https"
    connection.ctx.https_when = (said, https)
    return https


def policy_for(response: BaseHTTPResponse) -> str | None:
    media_type = (response.content_type or "").split(";")[0].strip().lower()
    if response.status == 304 or "javascript" in media_type:
        return None
    return SHELL_POLICY if media_type == "text/html" else API_POLICY
