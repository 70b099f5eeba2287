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
    if request.scheme == "https":
        headers.setdefault("Strict-Transport-Security", HSTS)


def policy_for(response: BaseHTTPResponse) -> str | None:
    media_type = (response.content_type or "").split(";")[0].strip().lower()
    if response.status == 304 or "javascript" in media_type:
        return None
    return SHELL_POLICY if media_type == "text/html" else API_POLICY
