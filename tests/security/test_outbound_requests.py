"""Server-side request forgery (OWASP API7). The server makes requests of its own to two kinds
of place: push services, at the endpoint of a browser's subscription, and the photo bucket
(configured by the operator, never named by a client). A subscription's endpoint is the only
URL a client can give, so it must be an https URL on a push service of ``PUSH_SERVICE_HOSTS``.
(The same refusals over HTTP: tests/push/test_subscriptions.py.)"""

from __future__ import annotations

import pytest

from server.config import Settings
from server.push.subscriptions import allowed_endpoint

HOSTS = Settings.model_fields["push_service_hosts"].default.split(",")
LOCAL = (*HOSTS, "http://127.0.0.1:8765")


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com@evil.example/fcm/send/x",
        "https://evil.example/#https://fcm.googleapis.com/",
        "https://evil.example/?https://fcm.googleapis.com/",
        "https://fcm.googleapis.com./fcm/send/x",
        "https://fcm.googleapis.com%2F@evil.example/",
        "https://push.services.mozilla.com/wpush/v2/x",  # only its subdomains are listed
        "https://evilpush.services.mozilla.com/wpush/v2/x",
        "https://updates.push.services.mozilla.com.evil.example/wpush/v2/x",
        "https://[::1]/push",
        "https://localhost/push",
        "https://10.0.0.1/push",
        "ftp://fcm.googleapis.com/x",
        "//fcm.googleapis.com/fcm/send/x",
        "fcm.googleapis.com/fcm/send/x",
        "http://127.0.0.1:8765/push",  # a local push service only when named whole
        "https://127.0.0.1:8765/push",
        "",
    ],
)
def test_no_endpoint_outside_the_push_services_is_taken(endpoint: str) -> None:
    assert not allowed_endpoint(endpoint, tuple(HOSTS))


@pytest.mark.parametrize(
    ("endpoint", "hosts"),
    [
        ("https://fcm.googleapis.com/fcm/send/abc", HOSTS),
        ("https://updates.push.services.mozilla.com/wpush/v2/abc", HOSTS),
        ("https://web.push.apple.com/QGx", HOSTS),
        ("https://FCM.googleapis.com:443/fcm/send/abc", HOSTS),
        ("http://127.0.0.1:8765/push/abc", LOCAL),
    ],
)
def test_the_push_services_are_taken(endpoint: str, hosts: tuple[str, ...]) -> None:
    assert allowed_endpoint(endpoint, tuple(hosts))
